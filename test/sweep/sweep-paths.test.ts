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
import { Clock, type Servers, memorySecrets, putUnreadable, startServers } from '../helpers/world.js';

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
  for (const s of Object.values(servers.sims)) {
    s.faults = {};
    delete s.onRequest;
  }
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
async function world(
  o: { settings?: Record<string, unknown>; policies?: unknown[]; connections?: Record<string, unknown>; notify?: Record<string, unknown> } = {},
): Promise<World> {
  const clock = new Clock(Date.now());
  const sim = servers.sims;
  const config = compileConfig({
    settings: { shards: 4, maxCancelsPerSweep: 100_000, leaseDuration: '2m', confirmWithin: '5m', probeEvery: '0', repairEvery: '0', ...o.settings },
    connections: {
      'catalyzed-c': { provider: 'catalyzed', baseUrl: sim.catalyzed.url, secret: 'key-catalyzed' },
      'kodexa-c': { provider: 'kodexa', baseUrl: sim.kodexa.url, secret: 'key-kodexa' },
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
      ...o.notify,
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
const PLATFORM: Record<string, keyof Servers['sims']> = {
  'catalyzed-c': 'catalyzed',
  'kodexa-c': 'kodexa',
  'ionworks-c': 'ionworks',
  'wrong-c': 'catalyzed',
  'bare-c': 'catalyzed',
  'bare-wrong': 'catalyzed',
};
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
function mutating(
  w: World,
  id: string,
  fn: (call: number, go: () => ReturnType<ExecutionStore['mutate']>) => ReturnType<ExecutionStore['mutate']>,
): ExecutionStore {
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

/** The ledger, whose claim of `key` fails (the other entries work). */
const claimFails = (w: World, key: string): ProbeLedger =>
  override(w.rt.ledger, {
    claim: (k: string, ...rest: [number, number]) => (k === key ? Promise.reject(new Error('ledger down')) : w.rt.ledger.claim(k, ...rest)),
  });

/** A sweeper of this world for which `connection`'s adapter cannot be had. */
function adapterBroken(w: World, connection: string): Sweeper {
  const providers = {
    forConnection: (c: string) => {
      if (c === connection) throw new Error('adapter broke');
      return w.rt.providers.forConnection(c);
    },
  };
  return new Sweeper({ config: w.rt.config, store: w.rt.store, providers, notifiers: w.rt.notifiers, now: w.clock.now, probes: w.rt.ledger });
}

/**
 * A cap of one cancel per sweep, a runaway that reaches its claim at once, and a stalled run
 * on a slow platform (300 ms) that reads its status first, so it reaches its claim after the
 * first one's has answered.
 */
async function capRace() {
  const w = await world({
    settings: { maxCancelsPerSweep: 1 },
    policies: [STRICT, { name: 'stally', maxRuntime: '10h', stallAfter: '20m', match: { labels: { kind: 'stall' } } }],
  });
  const first = await track(w, 2 * HOUR);
  const slow = await track(w, 30 * MIN, { connection: 'ionworks-c', labels: { kind: 'stall' } });
  await w.rt.watchdog.heartbeat(slow.id, { progress: { done: 1, total: 10 } });
  w.clock.advance(21 * MIN);
  servers.sims.ionworks.faults = { latencyMs: 300 };
  return { w, first, slow };
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
    expect(s.actions.find((a) => a.id === bad.id)).toEqual({
      id: bad.id,
      connection: 'catalyzed-c',
      externalId: bad.externalId,
      action: 'fault',
      detail: 'store hiccup',
    });
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

  it('a connection no longer configured: the cancel fails at once, saying why; nothing is sent', async () => {
    const w = await world();
    const e = await track(w, 2 * HOUR);
    await set(w, e.id, { connection: 'gone-c' });
    const s = await w.sweeper().run();
    expect(s.actions).toEqual([
      {
        id: e.id,
        connection: 'gone-c',
        externalId: e.externalId,
        action: 'cancel_failed',
        detail: 'unknown connection "gone-c"; expected one of catalyzed-c, kodexa-c, ionworks-c, wrong-c, bare-c, bare-wrong',
      },
    ]);
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

/** A run the watchdog could not stop: cancel_failed on `connection` (a wrong key fails at once). */
async function failedCancel(w: World, connection: string): Promise<Execution> {
  const e = await track(w, 2 * HOUR, { connection });
  await w.sweeper().run();
  const after = await stored(w, e.id);
  expect(after.state).toBe('cancel_failed');
  return after;
}

/** Requests the simulators received for one run, by method. */
function requestsFor(externalId: string) {
  const seen: string[] = [];
  servers.sims.catalyzed.onRequest = (r) => void (r.path.includes(externalId) && seen.push(r.method));
  return seen;
}

describe('a provider slot is given back on every path', () => {
  it('a recovery deferred for time gives its slot back: the same sweeper then works on (one call at a time)', async () => {
    const w = await world({ settings: { providerConcurrency: 1 } });
    const a = await track(w, 2 * HOUR);
    const ctx = contextFor(w.rt.config, w.clock.now);
    await w.rt.store.mutate(a.id, (c) => claimCancel(c, { holder: 'dead', leaseMs: MIN, actor: { id: 'dead', via: 'sweep' } }, ctx(c)));
    w.clock.advance(2 * MIN);
    const sweeper = w.sweeper();
    expect((await sweeper.run({ remainingMs: runsOutAfter(1) })).actions.map((x) => x.action)).toEqual(['deferred']);
    const b = await track(w, 2 * HOUR);
    const s = await sweeper.run();
    expect(s.actions.map((x) => [x.id, x.action]).sort()).toEqual(
      [
        [a.id, 'cancelled'],
        [b.id, 'cancelled'],
      ].sort(),
    );
  });
});

describe('aftercare: is a run the watchdog could not stop still running?', () => {
  it('not in a preview: nothing read, nothing written', async () => {
    const w = await world();
    const e = await failedCancel(w, 'wrong-c');
    w.clock.advance(6 * MIN);
    const seen = requestsFor(e.externalId);
    const s = await w.sweeper().run({ preview: true });
    expect(s).toMatchObject({ observed: 0, actions: [] });
    expect(seen).toEqual([]);
    expect((await stored(w, e.id)).version).toBe(e.version);
  });

  it('a status read that fails: checked now with nothing learned, no fault', async () => {
    const w = await world();
    const e = await failedCancel(w, 'wrong-c');
    w.clock.advance(6 * MIN);
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ observed: 1, faults: 0, actions: [] });
    const after = await stored(w, e.id);
    expect(after.checkedAt).toBe(w.clock.t);
    expect(after.state).toBe('cancel_failed');
  });

  it('no status call on the platform: looked at once, then left for a person (no more looks)', async () => {
    const w = await world();
    const e = await failedCancel(w, 'bare-wrong');
    w.clock.advance(6 * MIN);
    const seen = requestsFor(e.externalId);
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ observed: 0, faults: 0, actions: [] });
    expect(seen).toEqual([]);
    const after = await stored(w, e.id);
    expect(after.checkedAt).toBe(after.endedAt! + 24 * HOUR);
    w.clock.advance(6 * MIN);
    expect((await w.sweeper().run()).due).toBe(0);
  });

  it('seen stopped: recorded with what the platform says; time that ran out first defers it', async () => {
    const w = await world({ settings: { maxCancelAttempts: 1 } });
    const e = await track(w, 2 * HOUR);
    await w.sweeper(mutating(w, e.id, (call, go) => (call === 1 ? Promise.reject(new Error('store hiccup')) : go()))).run();
    expect((await stored(w, e.id)).state).toBe('cancel_failed');
    servers.sims.catalyzed.executions.get(e.externalId)!.state = 'cancelled';
    w.clock.advance(6 * MIN);
    const late = await w.sweeper().run({ remainingMs: runsOutAfter(1) });
    expect(late.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'deferred', detail: DEFERRED }]);
    const s = await w.sweeper().run();
    const after = await stored(w, e.id);
    expect(after.providerStatus).toBeTruthy();
    expect(s.actions).toEqual([
      { id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'stopped_after_alert', detail: `provider status ${after.providerStatus}` },
    ]);
  });
});

describe("a person's cancel and the cap", () => {
  it("a person's cancel never counts against maxCancelsPerSweep; the policy's do, and the held back are told why", async () => {
    const w = await world({ settings: { maxCancelsPerSweep: 1 } });
    const people = [await track(w, 10 * MIN), await track(w, 10 * MIN)];
    for (const e of people) await w.rt.watchdog.requestCancel(e.id, { id: 'slack:U1', via: 'slack' }, 'by hand');
    const runaways = [await track(w, 2 * HOUR), await track(w, 2 * HOUR)];
    const s = await w.sweeper().run();
    expect(people.map((e) => s.actions.find((a) => a.id === e.id)?.action)).toEqual(['cancelled', 'cancelled']);
    expect(runaways.map((e) => s.actions.find((a) => a.id === e.id)?.action).sort()).toEqual(['cancelled', 'held_back']);
    expect(s.actions.find((a) => a.action === 'held_back')?.detail).toBe('cap of 1 cancels per sweep reached');
  });

  it('a policy cancel whose claim is lost gives its slot back to the next runaway', async () => {
    // The slow one reads its platform first (a stall): by then the lost claim has answered.
    const { w, first: lost, slow } = await capRace();
    const ctx = contextFor(w.rt.config, w.clock.now);
    const store = mutating(w, lost.id, async (call, go) => {
      if (call === 1) await w.rt.store.mutate(lost.id, (c) => claimCancel(c, { holder: 'other', leaseMs: MIN, actor: { id: 'other', via: 'sweep' } }, ctx(c)));
      return go();
    });
    const s = await w.sweeper(store).run();
    expect(s.actions.find((a) => a.id === lost.id)?.action).toBe('lost_race');
    expect(s.actions.find((a) => a.id === slow.id)?.action).toBe('cancelled');
    expect(s.heldBackByCap).toBe(0);
  });
});

describe('under policy: the decisions', () => {
  const policies = [
    STRICT,
    { name: 'metered', maxRuntime: '1h', maxCostUsd: 10, match: { labels: { kind: 'metered' } }, notify: ['chat'] },
    { name: 'stally', maxRuntime: '10h', stallAfter: '20m', match: { labels: { kind: 'stall' } }, notify: ['chat'] },
    { name: 'dry', maxRuntime: '1h', maxCostUsd: 10, mode: 'dry-run', match: { labels: { kind: 'dry' } }, notify: ['chat'] },
    { name: 'asking', maxRuntime: '1h', maxCostUsd: 10, onBreach: 'approve', approveWithin: '5m', match: { labels: { kind: 'ask' } }, notify: ['chat'] },
    { name: 'keeping', maxRuntime: '1h', onBreach: 'approve', approveWithin: '5m', onSilence: 'keep', match: { labels: { kind: 'keep' } }, notify: ['chat'] },
    { name: 'beating', maxRuntime: '1h', heartbeatTimeout: '5m', match: { labels: { kind: 'beat' } }, notify: ['chat'] },
  ];

  it('a preview says what each would do, in words: limits joined, a dry-run, approval mode', async () => {
    const w = await world({ policies });
    const both = await track(w, 2 * HOUR, { labels: { kind: 'metered' } });
    await w.rt.watchdog.heartbeat(both.id, { costUsd: 5 });
    await set(w, both.id, { costUsd: 11 });
    const dry = await track(w, 2 * HOUR, { labels: { kind: 'dry' } });
    await set(w, dry.id, { costUsd: 11 });
    const ask = await track(w, 2 * HOUR, { labels: { kind: 'ask' } });
    await set(w, ask.id, { costUsd: 11 });
    const plain = await track(w, 2 * HOUR);
    const s = await w.sweeper().run({ preview: true });
    const said = (e: Execution) => {
      const a = s.actions.find((x) => x.id === e.id);
      return [a?.action, a?.detail];
    };
    expect(said(both)).toEqual(['preview_cancel', 'runtime, cost']);
    expect(said(dry)).toEqual(['preview_cancel', 'dry-run policy (it would record would_cancel): runtime, cost']);
    expect(said(ask)).toEqual(['preview_cancel', 'runtime, cost (approval mode: ask)']);
    expect(said(plain)).toEqual(['preview_cancel', 'runtime']);
  });

  it("a dry-run's would-cancel: recorded once with every limit; when the run then finishes, the people are told", async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'dry' } });
    await set(w, e.id, { costUsd: 11 });
    const s = await w.sweeper().run();
    expect(s.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'would_cancel', detail: 'runtime, cost' }]);
    const posts = postsAbout(e.externalId).length;
    // Due again (the periodic look): still breached, recorded already — no second record, no second notice.
    w.clock.advance(HOUR + MIN);
    const again = await w.sweeper().run();
    expect(again).toMatchObject({ wouldCancel: 0, actions: [] });
    expect(postsAbout(e.externalId)).toHaveLength(posts);
    servers.sims.catalyzed.executions.get(e.externalId)!.state = 'succeeded';
    w.clock.advance(HOUR + MIN);
    const done = await w.sweeper().run();
    expect(done.actions.map((a) => a.action)).toEqual(['finished']);
    expect(postsAbout(e.externalId).at(-1)?.text).toMatch(/^Finished: /);
  });

  it('progress the platform shows refutes a stall: no cancel, not even an attempt', async () => {
    const w = await world({ policies });
    const e = await track(w, 30 * MIN, { connection: 'kodexa-c', labels: { kind: 'stall' } });
    w.clock.advance(21 * MIN);
    const sim = servers.sims.kodexa.executions.get(e.externalId)!;
    sim.done = 5;
    sim.total = 10;
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ observed: 1, cancelCalls: 0, actions: [] });
    const after = await stored(w, e.id);
    expect(after).toMatchObject({ state: 'running', progress: { done: 5, total: 10 }, observedFraction: 0.5, lastProgressAt: w.clock.t });
  });

  it('a lost-heartbeat hold never holds a runtime breach', async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'beat' } });
    await w.rt.watchdog.heartbeat(e.id, {});
    await w.rt.ledger.recordIngestFault(w.clock.t);
    const s = await w.sweeper().run();
    expect(s.actions.map((a) => a.action)).toEqual(['cancelled']);
    expect(s.heartbeatHeld).toBe(0);
  });

  it('a warning decided again in its write: an extension that landed since wins (no warning, no notice)', async () => {
    const w = await world({ policies });
    // No status call on this platform: the warning's write is the sweep's first.
    const e = await track(w, 50 * MIN, { connection: 'bare-c' });
    const store = mutating(w, e.id, async (call, go) => {
      if (call === 1) await w.rt.watchdog.extend(e.id, '2h', { id: 'slack:U1', via: 'slack' });
      return go();
    });
    const s = await w.sweeper(store).run();
    expect(s).toMatchObject({ warned: 0, actions: [] });
    expect((await stored(w, e.id)).state).toBe('running');
    expect(postsAbout(e.externalId).filter((p) => /^Warning/.test(p.text))).toHaveLength(0);
  });

  it('a snooze that ran out no longer silences the warning; every limit near is named', async () => {
    const w = await world({ policies });
    const e = await track(w, 40 * MIN, { labels: { kind: 'metered' } });
    await w.rt.watchdog.snooze(e.id, '5m', { id: 'slack:U1', via: 'slack' });
    await set(w, e.id, { costUsd: 9 });
    w.clock.advance(10 * MIN);
    const s = await w.sweeper().run();
    expect(s.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'warned', detail: 'runtime, cost' }]);
    expect(postsAbout(e.externalId)).toHaveLength(1);
  });
});

describe('approval mode in the sweep: asked, answered by silence, raced', () => {
  const policies = [
    STRICT,
    { name: 'asking', maxRuntime: '1h', maxCostUsd: 10, onBreach: 'approve', approveWithin: '5m', match: { labels: { kind: 'ask' } }, notify: ['chat'] },
    { name: 'keeping', maxRuntime: '1h', onBreach: 'approve', approveWithin: '5m', onSilence: 'keep', match: { labels: { kind: 'keep' } }, notify: ['chat'] },
  ];
  const requests = (externalId: string) => postsAbout(externalId).filter((p) => p.text.startsWith('Approval needed'));

  it('asked with the limits; silence under onSilence: cancel is said so, then the cancel', async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'ask' } });
    await set(w, e.id, { costUsd: 11 });
    const s = await w.sweeper().run();
    expect(s.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'approval_asked', detail: 'runtime, cost' }]);
    expect(requests(e.externalId)).toHaveLength(1);
    w.clock.advance(6 * MIN);
    const silent = await w.sweeper().run();
    expect(silent.actions.map((a) => [a.action, a.detail])).toEqual([
      ['approval_unanswered', 'no answer: cancelling (onSilence: cancel)'],
      ['cancelled', 'cancelled'],
    ]);
  });

  it('silence under onSilence: keep is said so and keeps it; the kept run is looked at later, and found finished', async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'keep' } });
    await w.sweeper().run();
    w.clock.advance(6 * MIN);
    const silent = await w.sweeper().run();
    expect(silent.actions).toEqual([
      { id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'approval_unanswered', detail: 'no answer: kept running (onSilence: keep)' },
    ]);
    expect(postsAbout(e.externalId).at(-1)?.text).toMatch(/^No answer, kept running/);
    // Looked at again after recheckAfter (1h): read, still running — no second silence, no cancel.
    w.clock.advance(HOUR);
    expect(await w.sweeper().run()).toMatchObject({ observed: 1, actions: [] });
    servers.sims.catalyzed.executions.get(e.externalId)!.state = 'succeeded';
    w.clock.advance(HOUR);
    const look = await w.sweeper().run();
    expect(look.actions.map((a) => a.action)).toEqual(['finished']);
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBeUndefined();
  });

  it('a request never delivered is no silence to keep: the cancel goes ahead, and says why', async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'keep' } });
    servers.slack.failNext = 1_000;
    await w.sweeper().run();
    w.clock.advance(6 * MIN);
    const s = await w.sweeper().run();
    expect(s.actions.filter((a) => a.id === e.id).map((a) => [a.action, a.detail])).toEqual([
      ['approval_unanswered', 'no answer: cancelling (the request was never delivered)'],
      ['cancelled', 'cancelled'],
    ]);
  });

  it('an extension that landed before the request was written: no request', async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'ask' } });
    const store = mutating(w, e.id, async (call, go) => {
      if (call === 1) await w.rt.watchdog.extend(e.id, '2h', { id: 'slack:U1', via: 'slack' });
      return go();
    });
    const s = await w.sweeper(store).run();
    expect(s).toMatchObject({ approvalsAsked: 0, actions: [] });
    expect((await stored(w, e.id)).approval).toBeUndefined();
    expect(requests(e.externalId)).toHaveLength(0);
  });

  it('time that ran out after the request was written: it waits in the outbox for the next sweep', async () => {
    const w = await world({ policies });
    const e = await track(w, 2 * HOUR, { labels: { kind: 'ask' } });
    const s = await w.sweeper().run({ remainingMs: runsOutAfter(1) });
    expect(s.actions.map((a) => a.action)).toEqual(['approval_asked']);
    expect(requests(e.externalId)).toHaveLength(0);
    expect((await stored(w, e.id)).outbox?.map((x) => x.kind)).toEqual(['approval']);
    await w.sweeper().run();
    expect(requests(e.externalId)).toHaveLength(1);
  });
});

describe('lost heartbeats: the fleet rule and its alert', () => {
  const policies = [
    { name: 'beating', maxRuntime: '1h', heartbeatTimeout: '5m', notify: ['chat', 'pager'] },
    { name: 'beatdry', maxRuntime: '1h', heartbeatTimeout: '5m', mode: 'dry-run', match: { labels: { kind: 'dry' } } },
  ];

  it('only lost heartbeats count as silent: runs breached otherwise, heartbeating, do not make a mass loss', async () => {
    const w = await world({ policies, settings: { heartbeatHoldMinRuns: 2 } });
    const silent = await track(w, 10 * MIN);
    await w.rt.watchdog.heartbeat(silent.id, {});
    w.clock.advance(6 * MIN);
    for (let i = 0; i < 2; i++) {
      const r = await track(w, 2 * HOUR, { labels: { kind: 'dry' } });
      await w.rt.watchdog.heartbeat(r.id, {});
    }
    const s = await w.sweeper().run({ limit: 1 });
    expect(s.actions.map((a) => [a.id, a.action])).toEqual([[silent.id, 'cancelled']]);
  });

  it('held: one alert with its incident; a failed alert is an error of the sweep, never its end', async () => {
    const w = await world({ policies });
    const e = await track(w, 10 * MIN);
    await w.rt.watchdog.heartbeat(e.id, {});
    w.clock.advance(6 * MIN);
    await w.rt.ledger.recordIngestFault(w.clock.t - MIN);
    const failing = claimFails(w, '#heartbeat-hold');
    const s = await w.sweeper(w.rt.store, failing).run();
    expect(s).toMatchObject({ heartbeatHeld: 1, errors: 1 });
    expect(w.logs).toContainEqual({ level: 'error', message: 'heartbeat hold alert failed', fields: { error: 'ledger down' } });
    const events = pager.events.length;
    w.clock.advance(3 * MIN);
    await w.rt.ledger.recordIngestFault(w.clock.t - MIN);
    servers.slack.failNext = 1;
    const again = await w.sweeper().run();
    expect(again).toMatchObject({ heartbeatHeld: 1, errors: 0 });
    expect(pager.events.slice(events).map((x) => [x.action, x.key])).toEqual([['trigger', 'watchdog/heartbeats-held']]);
    expect(w.logs.filter((l) => l.level === 'warn' && l.message === 'heartbeat hold alert failed')).toHaveLength(1);
  });
});

describe('connection probes', () => {
  it('every connection with a status call once; none without one; an unhealthy one alerted with its incident', async () => {
    const w = await world({ settings: { probeEvery: '1m' } });
    const events = pager.events.length;
    servers.slack.failNext = 1;
    const s = await w.sweeper().run();
    expect(s.probes.map((p) => [p.connection, p.healthy]).sort()).toEqual([
      ['catalyzed-c', true],
      ['ionworks-c', true],
      ['kodexa-c', true],
      ['wrong-c', false],
    ]);
    expect(s.errors).toBe(0);
    expect(pager.events.slice(events).map((x) => [x.action, x.key])).toEqual([['trigger', 'watchdog/connection/wrong-c']]);
    expect(w.logs.filter((l) => l.level === 'warn' && l.message === 'probe notice failed')).toHaveLength(1);
  });

  it('not when time runs low', async () => {
    const w = await world({ settings: { probeEvery: '1m' } });
    expect((await w.sweeper().run({ remainingMs: () => 0 })).probes).toEqual([]);
  });
});

/** What the probe ledger last recorded for an entry (the safety net, the digest): healthy, with no change of health. */
async function ledgerDetail(w: World, entry: string): Promise<string | undefined> {
  const r = await client.send(new GetItemCommand({ TableName: w.tableName, Key: { pk: { S: `P#${entry}` }, sk: { S: 'P' } } }));
  expect(r.Item?.healthy?.BOOL).toBe(true);
  expect(r.Item?.since).toBeUndefined();
  return r.Item?.detail?.S;
}
/** Take an execution out of the due index (what the safety net exists for). */
const lose = (w: World, e: Execution) =>
  client.send(new UpdateItemCommand({ TableName: w.tableName, Key: { pk: { S: `X#${e.id}` }, sk: { S: 'X' } }, UpdateExpression: 'REMOVE dueShard' }));

describe('the safety net', () => {
  it('off (repairEvery: 0): never claimed', async () => {
    const w = await world({ settings: { repairEvery: '0' } });
    const e = await track(w, 2 * HOUR);
    await lose(w, e);
    w.clock.advance(2 * MIN);
    expect((await w.sweeper().run()).indexRepairs).toBe(0);
    expect(await w.rt.ledger.claim('#safety-net', w.clock.t + 1, 1e12)).toEqual({});
  });

  it("what the sweep's own batch returned is no candidate; the check is recorded with its count", async () => {
    const w = await world({ settings: { repairEvery: '15m' } });
    const e = await track(w, 2 * HOUR);
    w.clock.advance(2 * MIN);
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ indexRepairs: 0, cancelled: 1 });
    expect(await ledgerDetail(w, '#safety-net')).toBe('checked 0 overdue');
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBe(1);
  });

  it('the item decides: gone, ended, or not overdue after all — left alone, no error', async () => {
    const w = await world({ settings: { repairEvery: '15m' } });
    const ended = await track(w, 10 * MIN);
    await w.rt.watchdog.finish(ended.id, { id: 'tracker', via: 'api' }, 'succeeded');
    const fresh = await track(w, 10 * MIN);
    w.clock.advance(2 * MIN);
    // Whatever the due index says (here: nothing is in it), the item itself rules them out.
    const store = override(w.rt.store, { overdue: async () => [ended.id, 'wd_gone00000000', fresh.id], inDueIndex: async () => false });
    const before = await Promise.all([ended.id, fresh.id].map((id) => stored(w, id)));
    const s = await w.sweeper(store).run();
    expect(s).toMatchObject({ indexRepairs: 0, errors: 0, faults: 0, actions: [] });
    expect(await ledgerDetail(w, '#safety-net')).toBe('checked 3 overdue');
    const after = await Promise.all([ended.id, fresh.id].map((id) => stored(w, id)));
    expect(after.map((x) => x.version)).toEqual(before.map((x) => x.version));
  });

  it('once per repairEvery across sweeps: an entry lost after the check waits for the next one', async () => {
    const w = await world({ settings: { repairEvery: '15m' } });
    await w.sweeper().run();
    const e = await track(w, 2 * HOUR);
    await lose(w, e);
    w.clock.advance(2 * MIN);
    expect((await w.sweeper().run()).indexRepairs).toBe(0);
    w.clock.advance(15 * MIN);
    expect(await w.sweeper().run()).toMatchObject({ indexRepairs: 1, cancelled: 1 });
  });

  it("a fault on one found execution is that execution's fault; a failed check is an error of the sweep, logged", async () => {
    const w = await world({ settings: { repairEvery: '15m' } });
    const e = await track(w, 2 * HOUR);
    await lose(w, e);
    w.clock.advance(2 * MIN);
    const flaky = override(w.rt.store, { inDueIndex: () => Promise.reject(new Error('index read failed')) });
    const s = await w.sweeper(flaky).run();
    expect(s.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'fault', detail: 'index read failed' }]);
    w.clock.advance(15 * MIN);
    const broken = override(w.rt.store, { overdue: () => Promise.reject(new Error('state index gone')) });
    const t = await w.sweeper(broken).run();
    expect(t.errors).toBe(1);
    expect(w.logs).toContainEqual({ level: 'error', message: 'safety net failed', fields: { error: 'state index gone' } });
  });
});

describe('the digest (settings.digest)', () => {
  const digests = () => servers.slack.posts.filter((p) => p.text.startsWith('Runaway Watchdog: the last 7d'));

  it('once per period, after enforcement, recorded in the ledger; never in a preview', async () => {
    const w = await world({
      settings: { digest: { to: ['chat', 'chat2'], every: '7d' } },
      notify: { chat2: { type: 'slack', channel: '#oncall', tokenSecret: 'slack-bot', apiUrl: servers.slack.apiUrl } },
    });
    await track(w, 2 * HOUR);
    const before = digests().length;
    await w.sweeper().run({ preview: true });
    expect(digests()).toHaveLength(before);
    const s = await w.sweeper().run();
    expect(s.cancelled).toBe(1);
    expect(digests()).toHaveLength(before + 2);
    const week = 7 * 24 * HOUR;
    expect(await ledgerDetail(w, '#digest')).toBe(
      `report of ${new Date(w.clock.t - week).toISOString()} → ${new Date(w.clock.t).toISOString()} sent to chat, chat2`,
    );
    await w.sweeper().run();
    expect(digests()).toHaveLength(before + 2);
  });

  it('a digest that cannot be sent is logged; a ledger that fails is an error of the sweep', async () => {
    const w = await world({ settings: { digest: { to: ['chat'], every: '7d' } } });
    servers.slack.failNext = 1;
    await w.sweeper().run();
    expect(w.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'digest failed' }));
    const w2 = await world({ settings: { digest: { to: ['chat'], every: '7d' } } });
    const failing = claimFails(w2, '#digest');
    const s = await w2.sweeper(w2.rt.store, failing).run();
    expect(s.errors).toBe(1);
    expect(w2.logs).toContainEqual({ level: 'error', message: 'digest failed', fields: { error: 'ledger down' } });
  });
});

describe('an unreadable item', () => {
  const poison = (w: World, id: string, policy?: string) => putUnreadable(client, w.tableName, id, policy ? { policy } : {});

  it("alerts the policy it names, else the default one's people, with its own incident", async () => {
    const w = await world({ policies: [STRICT, { name: 'quiet', maxRuntime: '1h' }] });
    await poison(w, 'wd_poisonquiet1', 'quiet');
    await poison(w, 'wd_poisondeflt1');
    const events = pager.events.length;
    expect((await w.sweeper().run()).quarantined).toBe(2);
    expect(pager.events.slice(events).map((x) => [x.action, x.key])).toEqual([['trigger', 'watchdog/wd_poisondeflt1/quarantined']]);
  });

  it('an alert that cannot be sent is logged as such', async () => {
    const w = await world({ policies: [{ name: 'chatty', maxRuntime: '1h', notify: ['chat'] }] });
    await poison(w, 'wd_poisonmute01');
    servers.slack.failNext = 1;
    expect((await w.sweeper().run()).quarantined).toBe(1);
    expect(w.logs.filter((l) => l.level === 'warn' && l.message === 'quarantine alert failed')).toHaveLength(1);
  });

  it('one that cannot be quarantined: an error of the sweep, logged; the sweep goes on', async () => {
    const w = await world();
    await poison(w, 'wd_poisonstuck1');
    const e = await track(w, 2 * HOUR);
    const store = override(w.rt.store, { quarantine: () => Promise.reject(new Error('write refused')) });
    const s = await w.sweeper(store).run();
    expect(s).toMatchObject({ errors: 1, quarantined: 0 });
    expect(s.actions.find((a) => a.id === e.id)?.action).toBe('cancelled');
    expect(w.logs).toContainEqual({
      level: 'error',
      message: 'sweep: could not quarantine an unreadable item',
      fields: { executionId: 'wd_poisonstuck1', error: 'write refused' },
    });
  });
});

describe('more of what runs after enforcement, and what a due item is due for', () => {
  it('a sweep with nothing held back neither logs a cap nor spends the hold alert: a hold soon after still alerts', async () => {
    const w = await world({ policies: [{ name: 'beating', maxRuntime: '1h', heartbeatTimeout: '5m', notify: ['chat', 'pager'] }] });
    await track(w, 2 * HOUR);
    await w.sweeper().run();
    expect(w.logs.map((l) => l.message)).not.toContain('cancel cap reached');
    const e = await track(w, 10 * MIN);
    await w.rt.watchdog.heartbeat(e.id, {});
    w.clock.advance(6 * MIN);
    await w.rt.ledger.recordIngestFault(w.clock.t - MIN);
    const events = pager.events.length;
    expect((await w.sweeper().run()).heartbeatHeld).toBe(1);
    expect(pager.events.slice(events).map((x) => x.key)).toEqual(['watchdog/heartbeats-held']);
  });

  it('the cap alert that cannot be sent is logged as such', async () => {
    const w = await world({ settings: { maxCancelsPerSweep: 1 }, policies: [{ name: 'chatty', maxRuntime: '1h', notify: ['chat'] }] });
    await track(w, 2 * HOUR);
    await track(w, 2 * HOUR);
    servers.slack.failNext = 1_000;
    expect(await w.sweeper().run()).toMatchObject({ cancelled: 1, heldBackByCap: 1 });
    expect(w.logs.filter((l) => l.message === 'cap alert failed')).toHaveLength(1);
    expect(w.logs).toContainEqual({ level: 'error', message: 'cancel cap reached', fields: { heldBack: 1, cap: 1 } });
  });

  it('a preview probes nothing', async () => {
    const w = await world({ settings: { probeEvery: '1m' } });
    expect((await w.sweeper().run({ preview: true })).probes).toEqual([]);
    expect(await w.rt.ledger.claim('catalyzed-c', w.clock.t, 60_000)).toEqual({});
  });

  it("a stopped run's notice retry is only delivered: its aftercare look waits for its own time", async () => {
    const w = await world();
    servers.slack.failNext = 1;
    const e = await failedCancel(w, 'wrong-c');
    expect((await stored(w, e.id)).outbox?.length).toBeGreaterThan(0);
    w.clock.advance(2 * MIN);
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ observed: 0, noticesSent: 1 });
    expect((await stored(w, e.id)).checkedAt).toBeUndefined();
  });

  it("a live run's notice retry is delivered in the sweep it comes due, with no decision made", async () => {
    const w = await world();
    const e = await track(w, 50 * MIN, { connection: 'bare-c' });
    servers.slack.failNext = 1;
    await w.sweeper().run();
    expect(postsAbout(e.externalId)).toHaveLength(0);
    w.clock.advance(2 * MIN);
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ evaluated: 0, rescheduled: 0, noticesSent: 1 });
    expect(postsAbout(e.externalId)).toHaveLength(1);
  });

  it('a preview names every warning', async () => {
    const w = await world({ policies: [{ name: 'metered', maxRuntime: '1h', maxCostUsd: 10, notify: ['chat'] }] });
    const e = await track(w, 50 * MIN);
    await set(w, e.id, { costUsd: 9 });
    const s = await w.sweeper().run({ preview: true });
    expect(s.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'preview_warn', detail: 'runtime, cost' }]);
  });

  it('the fleet view: a failed read of the ingest record is a warning, not a hold; discovered runs are not in the count', async () => {
    const policies = [{ name: 'beating', maxRuntime: '1h', heartbeatTimeout: '5m', notify: ['chat'] }];
    const w = await world({ policies, settings: { heartbeatHoldMinRuns: 2 } });
    const silent = [await track(w, 10 * MIN), await track(w, 10 * MIN)];
    for (const e of silent) await w.rt.watchdog.heartbeat(e.id, {});
    for (let i = 0; i < 2; i++) await set(w, (await track(w, 10 * MIN)).id, { source: 'discovered' });
    w.clock.advance(6 * MIN);
    const failing = override(w.rt.ledger, { lastIngestFault: () => Promise.reject(new Error('ledger down')) });
    const s = await w.sweeper(w.rt.store, failing).run();
    // Two of two heartbeat-tracked runs silent together: held (the discovered two have no heartbeat to lose).
    expect(silent.map((e) => s.actions.find((a) => a.id === e.id)?.action)).toEqual(['heartbeat_held', 'heartbeat_held']);
    expect(w.logs).toContainEqual({ level: 'warn', message: 'could not read the ingest fault record', fields: { error: 'ledger down' } });
  });
});

describe('discovery in the sweep', () => {
  const discovering = () =>
    world({
      policies: [STRICT, { name: 'found', maxRuntime: '10h' }],
      connections: { 'superglue-c': { provider: 'superglue', baseUrl: servers.sims.superglue.url, secret: 'key-superglue', discover: { policy: 'found' } } },
    });
  beforeEach(() => {
    servers.sims.superglue.executions.clear();
    servers.sims.superglue.add({ id: 'nobody-1', startedAt: Date.now() - MIN });
    servers.sims.superglue.add({ id: 'nobody-2', startedAt: Date.now() - MIN });
  });

  it("runs after enforcement with its whole budget left before the invocation's reserve; counted per connection", async () => {
    const w = await discovering();
    const tight = await w.sweeper().run({ remainingMs: () => 30_000 + 15_000 - 1 });
    expect(tight).toMatchObject({ discovered: 0, discoveries: [] });
    const s = await w.sweeper().run({ remainingMs: () => 30_000 + 15_000 });
    expect(s.discovered).toBe(2);
    expect(s.discoveries).toEqual([expect.objectContaining({ connection: 'superglue-c', discovered: 2, running: 2 })]);
    expect((await w.rt.store.list({ connection: 'superglue-c', limit: 10 })).items.map((e) => e.externalId).sort()).toEqual(['nobody-1', 'nobody-2']);
  });

  it('not in a preview; on demand with the ledger, refused without it', async () => {
    const w = await discovering();
    expect((await w.sweeper().run({ preview: true })).discoveries).toEqual([]);
    expect(await w.sweeper().discoverNow('superglue-c')).toMatchObject({ connection: 'superglue-c', discovered: 2 });
    const bare = new Sweeper({ config: w.rt.config, store: w.rt.store, providers: w.rt.providers, notifiers: w.rt.notifiers });
    expect(() => bare.discoverNow('superglue-c')).toThrow('discovery needs the probe ledger');
  });
});

describe('the rest of the paths through one item', () => {
  it('a preview moves nothing on and delivers nothing: a stale deadline, a notice retry, a periodic look', async () => {
    const w = await world({ policies: [STRICT, { name: 'metered', maxCostUsd: 10, match: { labels: { kind: 'metered' } }, notify: ['chat'] }] });
    const stale = await track(w, 10 * MIN);
    const noisy = await track(w, 50 * MIN, { connection: 'bare-c' });
    servers.slack.failNext = 1;
    await w.sweeper().run();
    const looked = await track(w, 0, { labels: { kind: 'metered' }, connection: 'bare-c' });
    w.clock.advance(2 * MIN);
    // Due by a deadline heartbeats moved (stale), by a notice's retry (noisy), by the periodic look of a policy without deadlines (looked).
    await set(w, stale.id, { dueAt: w.clock.t - 1 });
    await set(w, looked.id, { dueAt: w.clock.t - 1 });
    const before = await Promise.all([stale, noisy, looked].map((e) => stored(w, e.id)));
    const s = await w.sweeper().run({ preview: true });
    expect(s).toMatchObject({ due: 3, rescheduled: 0, noticesSent: 0, observed: 0, actions: [] });
    const after = await Promise.all([stale, noisy, looked].map((e) => stored(w, e.id)));
    expect(after.map((e) => e.version)).toEqual(before.map((e) => e.version));
    expect(postsAbout(noisy.externalId)).toHaveLength(0);
    // The real sweep then does all three: moved on, delivered, looked at and moved on (no status call here).
    const real = await w.sweeper().run();
    expect(real).toMatchObject({ rescheduled: 1, noticesSent: 1, evaluated: 1, actions: [] });
    expect((await stored(w, looked.id)).dueAt).toBe(w.clock.t + HOUR);
  });

  it('a stale deadline with a notice not yet due: moved on, nothing sent early', async () => {
    const w = await world();
    const e = await track(w, 50 * MIN, { connection: 'bare-c' });
    servers.slack.failNext = 1;
    await w.sweeper().run();
    await set(w, e.id, { dueAt: w.clock.t - 1 });
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ rescheduled: 1, noticesSent: 0 });
    expect(postsAbout(e.externalId)).toHaveLength(0);
  });

  it('writes that find the run ended by its tracker first: no reschedule counted, no "finished" of its own', async () => {
    const w = await world({
      policies: [STRICT, { name: 'stally', maxRuntime: '10h', stallAfter: '20m', match: { labels: { kind: 'stall' } }, notify: ['chat'] }],
    });
    const stale = await track(w, 10 * MIN);
    await set(w, stale.id, { dueAt: w.clock.t - 1 });
    const read = await track(w, 30 * MIN, { labels: { kind: 'stall' } });
    servers.sims.catalyzed.executions.get(read.externalId)!.state = 'succeeded';
    w.clock.advance(21 * MIN);
    // The tracker reports each finished just before the sweep's first write to it.
    const calls = new Map<string, number>();
    const store = override(w.rt.store, {
      mutate: async (...args: Parameters<ExecutionStore['mutate']>) => {
        const id = args[0];
        if (id === stale.id || id === read.id) {
          const call = (calls.get(id) ?? 0) + 1;
          calls.set(id, call);
          if (call === 1) await w.rt.watchdog.finish(id, { id: 'tracker', via: 'api' }, 'done');
        }
        return w.rt.store.mutate(...args);
      },
    });
    const s = await w.sweeper(store).run();
    expect(s).toMatchObject({ rescheduled: 0, finished: 0, observed: 1, actions: [] });
    expect((await stored(w, read.id)).providerStatus).toBe('done');
  });

  it('a status read that fails is said in the log, and the decision is made on what the store knows', async () => {
    const w = await world();
    const e = await track(w, 50 * MIN);
    servers.sims.catalyzed.faults = { errorRate: 1 };
    const s = await w.sweeper().run();
    expect(s.actions.map((a) => a.action)).toEqual(['warned']);
    expect(w.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'status check failed; deciding on what the store knows' }));
    expect(w.logs.find((l) => l.message === 'status check failed; deciding on what the store knows')?.fields).toMatchObject({ executionId: e.id });
  });

  it('a fault in a preview is reported, never written', async () => {
    const w = await world();
    const e = await track(w, 2 * HOUR, { connection: 'ionworks-c' });
    const sweeper = adapterBroken(w, 'ionworks-c');
    const s = await sweeper.run({ preview: true });
    expect(s.actions).toEqual([{ id: e.id, connection: 'ionworks-c', externalId: e.externalId, action: 'error', detail: 'adapter broke' }]);
    expect((await stored(w, e.id)).version).toBe(e.version);
  });

  it('a probe whose adapter cannot be had: unhealthy, with why', async () => {
    const w = await world({ settings: { probeEvery: '1m' } });
    const sweeper = adapterBroken(w, 'ionworks-c');
    const s = await sweeper.run();
    expect(s.probes.find((p) => p.connection === 'ionworks-c')).toMatchObject({ healthy: false, detail: 'adapter broke' });
  });
});

describe('the last of the guards', () => {
  it('the cap counts a claim taken: a runaway that reaches its claim after the cap is filled is held back', async () => {
    // The slow one reads its platform first (a stall): by then the first has claimed and cancelled.
    const { w, first, slow } = await capRace();
    const s = await w.sweeper().run();
    expect(s.actions.find((a) => a.id === first.id)?.action).toBe('cancelled');
    expect(s.actions.find((a) => a.id === slow.id)).toMatchObject({ action: 'held_back', detail: 'cap of 1 cancels per sweep reached' });
  });

  it("the safety net leaves what this sweep's batch returned to it, even when it stays overdue (held back)", async () => {
    const w = await world({ settings: { repairEvery: '15m', maxCancelsPerSweep: 1 } });
    await track(w, 2 * HOUR);
    await track(w, 2 * HOUR);
    w.clock.advance(2 * MIN);
    const s = await w.sweeper().run();
    expect(s).toMatchObject({ cancelled: 1, heldBackByCap: 1, indexRepairs: 0 });
    expect(await ledgerDetail(w, '#safety-net')).toBe('checked 0 overdue');
  });

  it('discovery in a sweep with no invocation time to mind (the local runner)', async () => {
    servers.sims.superglue.executions.clear();
    servers.sims.superglue.add({ id: 'nobody-3', startedAt: Date.now() - MIN });
    const w = await world({
      policies: [STRICT, { name: 'found', maxRuntime: '10h' }],
      connections: { 'superglue-c': { provider: 'superglue', baseUrl: servers.sims.superglue.url, secret: 'key-superglue', discover: { policy: 'found' } } },
    });
    expect((await w.sweeper().run()).discovered).toBe(1);
  });

  it('a probe whose ledger fails: an error of the sweep, logged; the other connections are probed', async () => {
    const w = await world({ settings: { probeEvery: '1m' } });
    const failing = claimFails(w, 'kodexa-c');
    const s = await w.sweeper(w.rt.store, failing).run();
    expect(s.errors).toBe(1);
    expect(s.probes.map((p) => p.connection).sort()).toEqual(['catalyzed-c', 'ionworks-c', 'wrong-c']);
    expect(w.logs).toContainEqual({ level: 'error', message: 'connection probe failed', fields: { connection: 'kodexa-c', error: 'ledger down' } });
  });

  it('a preview quarantines nothing', async () => {
    const w = await world();
    await putUnreadable(client, w.tableName, 'wd_poisonprev1');
    expect((await w.sweeper().run({ preview: true })).quarantined).toBe(0);
    expect((await w.sweeper().run()).quarantined).toBe(1);
  });
});
