/**
 * The sweep's own decisions, one path at a time, through `Sweeper.run` with its summary, its
 * log and the store in view (dynalite, the simulators, the Slack and PagerDuty stand-ins): a
 * fault on one execution (backed off, given up, not even recordable), what runs after
 * enforcement and what waits, time running low in the middle of an item, aftercare, a
 * person's cancel and the cap, the decisions that re-read the item in their write, approval
 * mode's words, the heartbeat fleet rule, probes, the safety net and the digest.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/app/context.js';
import { Sweeper } from '../../src/app/sweep.js';
import { compileConfig } from '../../src/config/load.js';
import type { Execution } from '../../src/core/model.js';
import { claimCancel } from '../../src/core/transitions.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import { type OncallStandIn, startPagerDutyStandIn } from '../../src/simulators/oncall.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import type { ProbeLedger } from '../../src/store/probes.js';
import type { ExecutionStore } from '../../src/store/types.js';
import { HOUR, MIN, SEC } from '../helpers/fixtures.js';
import { Clock, type Servers, memorySecrets, startServers } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
let pager: OncallStandIn;
let client: DynamoDBClient;
beforeAll(async () => {
  [engine, servers, pager] = await Promise.all([startDynalite(), startServers(), startPagerDutyStandIn({ routingKey: 'rk' })]);
  client = dynamoClient({ endpoint: engine.endpoint });
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close(), pager?.close()]);
});
beforeEach(() => {
  for (const s of Object.values(servers.sims)) s.faults = {};
  servers.slack.failNext = 0;
});

const DEFERRED = "sweep deadline reached before its turn (the next schedule, or the invocation's reserve): left due for the next sweep";
const STRICT = { name: 'strict', maxRuntime: '1h', notify: ['chat', 'pager'] };
type Line = { level: 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> };

interface World {
  rt: Runtime;
  clock: Clock;
  tableName: string;
  logs: Line[];
  /** A sweeper of this world on another store (a proxy that injects a fault or a race). */
  sweeper(store?: ExecutionStore, probes?: ProbeLedger): Sweeper;
}

let tables = 0;
async function world(o: { settings?: Record<string, unknown>; policies?: unknown[]; connections?: Record<string, unknown> } = {}): Promise<World> {
  const clock = new Clock(Date.now());
  const sim = servers.sims;
  const config = compileConfig({
    settings: { shards: 4, maxCancelsPerSweep: 100_000, leaseDuration: '2m', confirmWithin: '5m', probeEvery: '0', repairEvery: '0', ...o.settings },
    connections: {
      'catalyzed-c': { provider: 'catalyzed', baseUrl: sim.catalyzed.url, secret: 'key-catalyzed' },
      'ionworks-c': { provider: 'ionworks', baseUrl: sim.ionworks.url, secret: 'key-ionworks' },
      'wrong-c': { provider: 'catalyzed', baseUrl: sim.catalyzed.url, secret: 'key-wrong' },
      // A platform of our own with a cancel call and no status call (the Catalyzed simulator's cancel).
      'bare-c': { provider: 'bare', baseUrl: sim.catalyzed.url, secret: 'key-catalyzed' },
      'bare-wrong': { provider: 'bare', baseUrl: sim.catalyzed.url, secret: 'key-wrong' },
      ...o.connections,
    },
    providers: { bare: { type: 'http', auth: { header: 'Authorization', prefix: 'Bearer ' }, cancel: { path: '/pipeline-executions/{id}/cancel' } } },
    notify: {
      chat: { type: 'slack', channel: '#oncall', tokenSecret: 'slack-bot', apiUrl: servers.slack.apiUrl },
      pager: { type: 'pagerduty', routingKeySecret: 'pd' },
    },
    policies: o.policies ?? [STRICT],
    defaultPolicy: (o.policies?.[0] as { name?: string } | undefined)?.name ?? 'strict',
  });
  // The PagerDuty stand-in's URL (the config schema has no apiUrl for it in the file; the runtime takes it).
  (config.notify.get('pager') as { apiUrl?: string }).apiUrl = pager.url;
  const base = memorySecrets(servers);
  const secrets = { get: async (name: string) => (name === 'pd' ? JSON.stringify({ routingKey: 'rk' }) : base.get(name)) };
  const tableName = `paths${++tables}${Date.now() % 100_000}`;
  await ensureTable(client, tableName);
  const logs: Line[] = [];
  const log = {
    info: (message: string, fields?: Record<string, unknown>) => void logs.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message: string, fields?: Record<string, unknown>) => void logs.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message: string, fields?: Record<string, unknown>) => void logs.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  const rt = buildRuntime(config, { client, tableName, secrets, now: clock.now, holder: 'sweep-a', log });
  const sweeper = (store: ExecutionStore = rt.store, probes: ProbeLedger = rt.ledger) =>
    new Sweeper({ config, store, providers: rt.providers, notifiers: rt.notifiers, now: clock.now, holder: 'sweep-b', log, probes });
  return { rt, clock, tableName, logs, sweeper };
}

let n = 0;
const PLATFORM: Record<string, keyof Servers['sims']> = { 'catalyzed-c': 'catalyzed', 'ionworks-c': 'ionworks', 'wrong-c': 'catalyzed', 'bare-c': 'catalyzed', 'bare-wrong': 'catalyzed' };
/** A run started `ago` before now on `connection` (on its simulator too), tracked. */
async function track(w: World, ago: number, o: { connection?: string; labels?: Record<string, string>; policy?: string } = {}): Promise<Execution> {
  const connection = o.connection ?? 'catalyzed-c';
  const externalId = `sp-${++n}`;
  servers.sims[PLATFORM[connection] ?? 'catalyzed'].add({ id: externalId, startedAt: w.clock.t - ago });
  const input = { connection, externalId, startedAt: w.clock.t - ago, ...(o.labels ? { labels: o.labels } : {}), ...(o.policy ? { policy: o.policy } : {}) };
  return (await w.rt.watchdog.track(input, { id: 'tracker', via: 'api' })).execution;
}

/** Overwrite fields of the stored item (a state the test starts from), version bumped. */
async function set(w: World, id: string, fields: Partial<Execution>): Promise<Execution> {
  const r = await w.rt.store.mutate(id, (c) => ({ ok: true, execution: { ...c, ...fields, version: c.version + 1 } }));
  if (!r.ok) throw new Error('set failed');
  return r.execution;
}

/** The store, with `mutate` replaced for one execution id. */
function mutating(w: World, id: string, fn: (call: number, go: () => ReturnType<ExecutionStore['mutate']>) => ReturnType<ExecutionStore['mutate']>): ExecutionStore {
  let calls = 0;
  return override(w.rt.store, {
    mutate: (...args: Parameters<ExecutionStore['mutate']>) => (args[0] === id ? fn(++calls, () => w.rt.store.mutate(...args)) : w.rt.store.mutate(...args)),
  });
}

function override<T extends object>(target: T, methods: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, key) {
      if (Object.hasOwn(methods, key)) return methods[key as keyof T];
      const v = Reflect.get(t, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** remainingMs for an invocation whose time runs out after `calls` looks at it. */
const runsOutAfter = (calls: number) => {
  let seen = 0;
  return () => (++seen > calls ? 0 : 10 * MIN);
};

const postsAbout = (externalId: string) => servers.slack.posts.filter((p) => JSON.stringify(p).includes(externalId));
const stored = async (w: World, id: string) => (await w.rt.store.get(id))!;

describe('a fault on one execution', () => {
  it('is recorded on it: counted, backed off from its count of faults, no notice; the others go on', async () => {
    const w = await world();
    const bad = await track(w, 2 * HOUR);
    const good = await track(w, 2 * HOUR);
    await set(w, bad.id, { faults: 2 });
    const store = mutating(w, bad.id, (call, go) => (call === 1 ? Promise.reject(new Error('store hiccup')) : go()));
    const s = await w.sweeper(store).run();
    expect(s.actions.find((a) => a.id === bad.id)).toEqual({ id: bad.id, connection: 'catalyzed-c', externalId: bad.externalId, action: 'fault', detail: 'store hiccup' });
    expect(s.actions.find((a) => a.id === good.id)?.action).toBe('cancelled');
    expect(s).toMatchObject({ faults: 1, cancelFailed: 0 });
    const after = await stored(w, bad.id);
    expect(after).toMatchObject({ state: 'running', faults: 3 });
    // The third fault in a row waits 60 s (± a quarter): 15 s doubled per fault.
    expect(after.dueAt! - w.clock.t).toBeGreaterThanOrEqual(45 * SEC);
    expect(after.dueAt! - w.clock.t).toBeLessThanOrEqual(75 * SEC);
    expect(after.outbox ?? []).toEqual([]);
    expect(postsAbout(bad.externalId)).toHaveLength(0);
    expect(w.logs).toContainEqual({
      level: 'error',
      message: 'sweep: fault on execution',
      fields: { executionId: bad.id, connection: 'catalyzed-c', error: 'store hiccup' },
    });
  });

  it('a thrown non-error is a fault all the same (its words are what it was)', async () => {
    const w = await world();
    const bad = await track(w, 2 * HOUR);
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- what a broken dependency may do
    const store = mutating(w, bad.id, (call, go) => (call === 1 ? Promise.reject(undefined) : go()));
    const s = await w.sweeper(store).run();
    expect(s.actions).toEqual([{ id: bad.id, connection: 'catalyzed-c', externalId: bad.externalId, action: 'fault', detail: 'undefined' }]);
    expect((await stored(w, bad.id)).faults).toBe(1);
  });

  it('after maxCancelAttempts in a row: cancel_failed, counted as both, and the people are told', async () => {
    const w = await world({ settings: { maxCancelAttempts: 3 } });
    const bad = await track(w, 2 * HOUR);
    await set(w, bad.id, { faults: 2 });
    const store = mutating(w, bad.id, (call, go) => (call === 1 ? Promise.reject(new Error('store hiccup')) : go()));
    const s = await w.sweeper(store).run();
    expect(s.actions).toEqual([{ id: bad.id, connection: 'catalyzed-c', externalId: bad.externalId, action: 'cancel_failed', detail: 'store hiccup' }]);
    expect(s).toMatchObject({ faults: 1, cancelFailed: 1 });
    expect((await stored(w, bad.id)).state).toBe('cancel_failed');
    expect(postsAbout(bad.externalId).length).toBeGreaterThanOrEqual(1);
    expect(pager.events.filter((e) => e.key === `watchdog/${bad.id}/stop`).map((e) => e.action)).toEqual(['trigger']);
  });

  it('a fault that cannot even be written: an error of the sweep, logged; the item is untouched', async () => {
    const w = await world();
    const bad = await track(w, 2 * HOUR);
    const good = await track(w, 2 * HOUR);
    const store = mutating(w, bad.id, () => Promise.reject(new Error('table gone')));
    const s = await w.sweeper(store).run();
    expect(s.actions.find((a) => a.id === bad.id)).toMatchObject({ action: 'error', detail: 'table gone' });
    expect(s.actions.find((a) => a.id === good.id)?.action).toBe('cancelled');
    expect(w.logs).toContainEqual({ level: 'error', message: 'sweep: could not record a fault', fields: { executionId: bad.id, error: 'table gone' } });
    expect((await stored(w, bad.id)).version).toBe(bad.version);
  });

  it('a policy that cannot be told apart (an unknown connection): the fault of that execution', async () => {
    const w = await world();
    const e = await track(w, 2 * HOUR);
    await set(w, e.id, { connection: 'gone-c' });
    const s = await w.sweeper().run();
    expect(s.actions.find((a) => a.id === e.id)?.action).not.toBe('cancelled');
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBeUndefined();
  });
});

describe('what a sweep does first, and what waits', () => {
  it('items due only by a stale stored deadline are moved on after every cancel of the sweep', async () => {
    const w = await world();
    const runaway = await track(w, 2 * HOUR);
    const fresh = await track(w, 10 * MIN);
    await set(w, fresh.id, { dueAt: w.clock.t - 1 });
    const order: string[] = [];
    const store = override(w.rt.store, {
      mutate: (...args: Parameters<ExecutionStore['mutate']>) => {
        order.push(args[0]);
        return w.rt.store.mutate(...args);
      },
    });
    const s = await w.sweeper(store).run();
    expect(s).toMatchObject({ rescheduled: 1, cancelled: 1, evaluated: 1 });
    expect(order.at(-1)).toBe(fresh.id);
    expect(order.filter((id) => id === runaway.id).length).toBeGreaterThanOrEqual(2);
    expect(order.indexOf(fresh.id)).toBe(order.length - 1);
  });

  it('no cap alert without a run held back, no hold alert without a held heartbeat', async () => {
    const w = await world();
    await track(w, 2 * HOUR);
    const events = pager.events.length;
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ cancelled: 1, heldBackByCap: 0, heartbeatHeld: 0 });
    expect(pager.events.slice(events).map((e) => e.key)).not.toContain('watchdog/cancel-cap');
    expect(pager.events.slice(events).map((e) => e.key)).not.toContain('watchdog/heartbeats-held');
    expect(servers.slack.posts.filter((p) => /Cancel cap reached|Heartbeats are not arriving/.test(p.text))).toHaveLength(0);
  });
});

describe('time that runs out in the middle of an item', () => {
  it('before the item starts: deferred with why, nothing written; a preview still says what it would do', async () => {
    const w = await world();
    const e = await track(w, 50 * MIN, { connection: 'bare-c' });
    const s = await w.sweeper().run({ remainingMs: () => 0 });
    expect(s.actions).toEqual([{ id: e.id, connection: 'bare-c', externalId: e.externalId, action: 'deferred', detail: DEFERRED }]);
    expect((await stored(w, e.id)).version).toBe(e.version);
    const p = await w.sweeper().run({ remainingMs: () => 0, preview: true });
    expect(p.actions.map((a) => a.action)).toEqual(['preview_warn']);
  });

  it('before the status read: deferred, nothing read', async () => {
    const w = await world();
    const e = await track(w, 50 * MIN);
    const s = await w.sweeper().run({ remainingMs: runsOutAfter(1) });
    expect(s.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'deferred', detail: DEFERRED }]);
    expect(s.observed).toBe(0);
    expect((await stored(w, e.id)).state).toBe('running');
  });

  it('after the warning is written: the notice stays in the outbox for the next sweep', async () => {
    const w = await world();
    const e = await track(w, 50 * MIN, { connection: 'bare-c' });
    const s = await w.sweeper().run({ remainingMs: runsOutAfter(1) });
    expect(s.actions.map((a) => a.action)).toEqual(['warned']);
    expect(postsAbout(e.externalId)).toHaveLength(0);
    expect((await stored(w, e.id)).outbox?.map((x) => x.kind)).toEqual(['warning']);
    await w.sweeper().run();
    expect(postsAbout(e.externalId)).toHaveLength(1);
  });

  it('a claim recovered when time ran out after it came due: deferred; recovered in time: no deferral', async () => {
    const w = await world();
    const a = await track(w, 2 * HOUR);
    const b = await track(w, 2 * HOUR);
    const ctx = contextFor(w.rt.config, w.clock.now);
    for (const e of [a, b]) await w.rt.store.mutate(e.id, (c) => claimCancel(c, { holder: 'dead', leaseMs: MIN, actor: { id: 'dead', via: 'sweep' } }, ctx(c)));
    w.clock.advance(2 * MIN);
    const late = await w.sweeper().run({ remainingMs: runsOutAfter(1), limit: 1 });
    expect(late.actions).toEqual([{ id: a.id, connection: 'catalyzed-c', externalId: a.externalId, action: 'deferred', detail: DEFERRED }]);
    const s = await w.sweeper().run();
    expect(s.actions.map((x) => x.action).sort()).toEqual(['cancelled', 'cancelled']);
  });
});
