/**
 * The sweep's guards and side paths, each on its own (dynalite, the simulators): when a sweep
 * stops starting work (the invocation's reserve, the next schedule, a caller's deadline), what
 * a preview leaves alone in every state, the figures it reports (due lag, evaluated), and the
 * safety net that finds a runaway the due index lost.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sweeper } from '../../src/app/sweep.js';
import { claimCancel } from '../../src/core/transitions.js';
import { contextFor } from '../../src/app/context.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import type { Runtime } from '../../src/runtime.js';
import { HOUR, MIN } from '../helpers/fixtures.js';
import { compileConfig } from '../../src/config/load.js';
import { buildRuntime } from '../../src/runtime.js';
import { startPagerDutyStandIn } from '../../src/simulators/oncall.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { Clock, type Servers, freshRuntime, memorySecrets, putUnreadable, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
let client: DynamoDBClient | undefined;
beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynalite(), startServers()]);
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});

const actor = { id: 'tracker', via: 'api' };
let n = 0;

async function world(settings: Record<string, unknown> = {}, policies?: unknown[]) {
  const clock = new Clock(Date.now());
  const config = worldConfig(servers, { settings: { probeEvery: '0', ...settings }, ...(policies ? { policies } : {}) });
  const w = await freshRuntime(engine, client, config, servers, clock);
  client = w.client;
  return { ...w, clock };
}

/** A run past its 1h runtime limit on catalyzed, due now. */
async function runaway(rt: Runtime, clock: Clock, externalId = `side-${++n}`) {
  servers.sims.catalyzed.add({ id: externalId, startedAt: clock.t - 2 * HOUR });
  return (await rt.watchdog.track({ connection: 'catalyzed-c', externalId, startedAt: clock.t - 2 * HOUR }, actor)).execution;
}

/** A sweeper on the runtime's store whose clock reads `first` once (the sweep's start), then `after`. */
function steppingSweeper(rt: Runtime, first: number, after: number): Sweeper {
  let calls = 0;
  return new Sweeper({ config: rt.config, store: rt.store, providers: rt.providers, notifiers: rt.notifiers, now: () => (calls++ === 0 ? first : after) });
}

describe('when a sweep stops starting work', () => {
  it.each([
    // [what, options, ms after the start when the work would begin, deferred?]
    ['the reserve: exactly 30 s left still works', { remainingMs: (): number => 30_000 }, 0, false],
    ['the reserve: less than 30 s left defers', { remainingMs: (): number => 29_999 }, 0, true],
    ['a reserve of its own', { remainingMs: (): number => 40_000, reserveMs: 45_000 }, 0, true],
    ['a caller deadline, reached', { deadlineAt: 0 }, 0, true],
    ['a caller deadline, not reached', { deadlineAt: 1 }, 0, false],
    ['the next schedule (2m): ends 10 s before it', { scheduleMs: 120_000 }, 110_000, true],
    ['the next schedule (2m): works until then', { scheduleMs: 120_000 }, 109_999, false],
    ['a short schedule (30 s): ends a sixth before it', { scheduleMs: 30_000 }, 25_000, true],
    ['a short schedule (30 s): works until then', { scheduleMs: 30_000 }, 24_999, false],
  ] as const)('%s', async (_what, o, laterMs, deferred) => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock);
    const opts = 'deadlineAt' in o ? { deadlineAt: clock.t + o.deadlineAt } : o;
    const s = await steppingSweeper(rt, clock.t, clock.t + laterMs).run(opts);
    expect(s.deferredForTime).toBe(deferred ? 1 : 0);
    expect(s.cancelled).toBe(deferred ? 0 : 1);
    expect((await rt.store.get(e.id))?.state).toBe(deferred ? 'running' : 'cancelled');
  });

  it('a batch limit reads no more than it says; the rest stays due for the next sweep', async () => {
    const { rt, clock } = await world();
    for (let i = 0; i < 3; i++) await runaway(rt, clock);
    expect(await rt.sweeper.run({ limit: 2 })).toMatchObject({ due: 2, cancelled: 2 });
    expect(await rt.sweeper.run()).toMatchObject({ due: 1, cancelled: 1 });
  });
});

describe('the figures a sweep reports', () => {
  it('due lag per execution acted on (sorted), evaluated, duration by its clock', async () => {
    const { rt, clock } = await world();
    await runaway(rt, clock);
    clock.advance(2 * MIN);
    await runaway(rt, clock);
    clock.advance(MIN);
    await runaway(rt, clock);
    clock.advance(MIN);
    const s = await rt.sweeper.run();
    expect(s).toMatchObject({ due: 3, evaluated: 3, cancelled: 3, dueLagMs: [MIN, 2 * MIN, 4 * MIN], durationMs: 0 });
    const stepped = await steppingSweeper(rt, clock.t, clock.t + 5_000).run();
    expect(stepped).toMatchObject({ due: 0, evaluated: 0, durationMs: 5_000 });
  });
});

describe('a preview changes nothing, in any state', () => {
  it('a requested cancel and an expired claim: reported or skipped, never written, called or sent', async () => {
    const { rt, clock } = await world();
    const requested = await runaway(rt, clock);
    await rt.watchdog.requestCancel(requested.id, { id: 'slack:U1', via: 'slack' }, 'by hand');
    const claimed = await runaway(rt, clock);
    const ctx = contextFor(rt.config, clock.now);
    await rt.store.mutate(claimed.id, (c) => claimCancel(c, { holder: 'gone', leaseMs: MIN, actor: { id: 'gone', via: 'sweep' } }, ctx(c)));
    clock.advance(2 * MIN);
    const before = await Promise.all([requested.id, claimed.id].map((id) => rt.store.get(id)));
    const posts = servers.slack.posts.length;
    const s = await rt.sweeper.run({ preview: true });
    expect(s.actions).toEqual([expect.objectContaining({ id: requested.id, action: 'preview_cancel', detail: 'cancel requested' })]);
    expect(s).toMatchObject({ previewCancels: 1, cancelCalls: 0, cancelled: 0, lostRaces: 0 });
    const after = await Promise.all([requested.id, claimed.id].map((id) => rt.store.get(id)));
    expect(after.map((e) => e?.version)).toEqual(before.map((e) => e?.version));
    expect(servers.slack.posts.length).toBe(posts);
    expect(servers.sims.catalyzed.cancelCalls.get(requested.externalId)).toBeUndefined();
    // The real sweep then carries both out: the request, and the claim whose holder is gone.
    const real = await rt.sweeper.run();
    expect(real.cancelled).toBe(2);
  });
});

describe('the safety net (dynalite): a runaway whose due entry is gone is still found', () => {
  it('found through the state index, re-indexed, cancelled, counted; not in a preview; not again within repairEvery', async () => {
    const { rt, clock, client: c, tableName } = await world({ repairEvery: '15m' });
    const lost = await runaway(rt, clock, `lost-${++n}`);
    const later = await runaway(rt, clock, `batch-${++n}`);
    await c.send(new UpdateItemCommand({ TableName: tableName, Key: { pk: { S: `X#${lost.id}` }, sk: { S: 'X' } }, UpdateExpression: 'REMOVE dueShard' }));
    clock.advance(2 * MIN);
    expect((await rt.sweeper.run({ preview: true })).indexRepairs).toBe(0);
    // A batch of 0 leaves the other in the due index, unread: not a repair.
    const s = await rt.sweeper.run({ limit: 0 });
    expect(s).toMatchObject({ indexRepairs: 1, cancelled: 1 });
    expect(servers.sims.catalyzed.cancelCalls.get(lost.externalId)).toBe(1);
    expect((await rt.store.get(later.id))?.state).toBe('running');
    expect((await rt.sweeper.run({ limit: 0 })).indexRepairs).toBe(0);
  });

  it('a grace minute: an entry overdue by less than that is left to the index', async () => {
    const { rt, clock, client: c, tableName } = await world({ repairEvery: '15m' });
    const lost = await runaway(rt, clock, `fresh-${++n}`);
    await c.send(new UpdateItemCommand({ TableName: tableName, Key: { pk: { S: `X#${lost.id}` }, sk: { S: 'X' } }, UpdateExpression: 'REMOVE dueShard' }));
    clock.advance(59_000);
    expect((await rt.sweeper.run()).indexRepairs).toBe(0);
    expect((await rt.store.get(lost.id))?.state).toBe('running');
  });
});

describe('under policy: when the sweep reads the platform first, and what it does with the answer', () => {
  const policies = [
    { name: 'strict', maxRuntime: '1h', notify: ['chat'] },
    { name: 'stally', maxRuntime: '10h', stallAfter: '20m', match: { labels: { kind: 'stall' } }, notify: ['chat'] },
    { name: 'metered', maxCostUsd: 10, match: { labels: { kind: 'metered' } }, notify: ['chat'] },
    { name: 'preview', maxRuntime: '1h', mode: 'dry-run', match: { labels: { kind: 'preview' } }, notify: ['chat'] },
  ];
  const track = async (rt: Runtime, clock: Clock, agoMs: number, extra: Record<string, unknown> = {}, state = 'running') => {
    const externalId = `up-${++n}`;
    servers.sims.catalyzed.add({ id: externalId, startedAt: clock.t - agoMs, state: state as never });
    return (await rt.watchdog.track({ connection: 'catalyzed-c', externalId, startedAt: clock.t - agoMs, ...extra }, actor)).execution;
  };
  const postsAbout = (externalId: string) => servers.slack.posts.filter((p) => p.text.includes(externalId));

  it('a runtime cancel is sent without a read; a warning, a stall, a dry-run and a periodic look read first', async () => {
    const { rt, clock } = await world({}, policies);
    await track(rt, clock, 2 * HOUR); // runtime: the cancel's own answer tells finished from cancelled
    expect(await rt.sweeper.run()).toMatchObject({ observed: 0, cancelCalls: 1, cancelled: 1 });
    await track(rt, clock, 50 * MIN); // near its runtime: warned after a read
    expect(await rt.sweeper.run()).toMatchObject({ observed: 1, warned: 1, cancelCalls: 0 });
    const stalled = await track(rt, clock, 30 * MIN, { labels: { kind: 'stall' } });
    await rt.watchdog.heartbeat(stalled.id, { progress: { done: 1, total: 10 } });
    clock.advance(21 * MIN);
    const stall = await rt.sweeper.run();
    expect(stall.actions.find((a) => a.id === stalled.id)?.action).toBe('cancelled');
    expect(stall.observed).toBeGreaterThanOrEqual(1);
    const dry = await track(rt, clock, 2 * HOUR, { labels: { kind: 'preview' } });
    const s = await rt.sweeper.run();
    expect(s.actions.find((a) => a.id === dry.id)).toMatchObject({ action: 'would_cancel', detail: 'runtime' });
    expect(s).toMatchObject({ observed: 1, cancelCalls: 0 });
    // Recorded once: the next look only moves it on.
    clock.advance(2 * HOUR);
    expect((await rt.sweeper.run()).wouldCancel).toBe(0);
    const metered = await track(rt, clock, 0, { labels: { kind: 'metered' } });
    clock.advance(HOUR); // no deadline: looked at after recheckAfter (1h)
    const look = await rt.sweeper.run();
    expect(look.actions.find((a) => a.id === metered.id)).toBeUndefined();
    // Two periodic looks read: the policy without a deadline, and the recorded dry-run (finished yet?).
    expect(look.observed).toBe(2);
    expect(look.actions).toEqual([]);
  });

  it('found finished by the read: recorded finished; the people who were warned are told, the others are not', async () => {
    const { rt, clock } = await world({}, policies);
    // Warned under the dry-run policy, read again at its would-cancel; the other read before its warning.
    const warned = await track(rt, clock, 50 * MIN, { labels: { kind: 'preview' } });
    await rt.sweeper.run();
    expect(postsAbout(warned.externalId)).toHaveLength(1);
    servers.sims.catalyzed.executions.get(warned.externalId)!.state = 'succeeded';
    const quiet = await track(rt, clock, 45 * MIN, {}, 'succeeded');
    clock.advance(11 * MIN);
    const s = await rt.sweeper.run();
    expect(s.finished).toBe(2);
    expect(s.actions.find((a) => a.id === quiet.id)).toMatchObject({ action: 'finished', detail: 'provider status succeeded' });
    expect((await rt.store.get(warned.id))?.state).toBe('finished');
    expect(postsAbout(warned.externalId).at(-1)?.text).toMatch(/^Finished: /);
    expect(postsAbout(quiet.externalId)).toHaveLength(0);
    expect(servers.sims.catalyzed.cancelCalls.get(quiet.externalId)).toBeUndefined();
  });

  it('a read that fails: decided on what the store knows (warned all the same)', async () => {
    const { rt, clock } = await world({}, policies);
    const e = await track(rt, clock, 50 * MIN);
    servers.sims.catalyzed.faults = { errorRate: 1 };
    try {
      const s = await rt.sweeper.run();
      expect(s.actions.find((a) => a.id === e.id)).toMatchObject({ action: 'warned', detail: 'runtime' });
    } finally {
      servers.sims.catalyzed.faults = {};
    }
  });

  it('snoozed: the warning is recorded (once) but not sent', async () => {
    const { rt, clock } = await world({}, policies);
    const e = await track(rt, clock, 40 * MIN);
    await rt.watchdog.snooze(e.id, '1h', { id: 'slack:U1', via: 'slack' });
    clock.advance(9 * MIN);
    const s = await rt.sweeper.run();
    expect(s.warned).toBe(1);
    expect((await rt.store.get(e.id))?.state).toBe('warned');
    expect(postsAbout(e.externalId)).toHaveLength(0);
    expect((await rt.sweeper.run()).warned).toBe(0);
  });

  it('a preview of a warning names the limits; nothing is read, written or sent', async () => {
    const { rt, clock } = await world({}, policies);
    const e = await track(rt, clock, 50 * MIN);
    const s = await rt.sweeper.run({ preview: true });
    expect(s.actions).toEqual([expect.objectContaining({ id: e.id, action: 'preview_warn', detail: 'runtime' })]);
    expect(s.observed).toBe(0);
    expect((await rt.store.get(e.id))?.version).toBe(e.version);
  });
});

describe("the fleet's own alerts carry their kind, incident key and facts", () => {
  it('the cancel cap: one PagerDuty incident keyed watchdog/cancel-cap, and the facts in the webhook', async () => {
    const pager = await startPagerDutyStandIn({ routingKey: 'rk' });
    try {
      const clock = new Clock(Date.now());
      const config = compileConfig({
        settings: { maxCancelsPerSweep: 1, probeEvery: '0' },
        connections: { 'catalyzed-c': { provider: 'catalyzed', baseUrl: servers.sims.catalyzed.url, secret: 'key-catalyzed' } },
        notify: {
          hook: { type: 'webhook', url: `${servers.slack.hookBase}/cap`, secret: 'hook' },
          pager: { type: 'pagerduty', routingKeySecret: 'pd', apiUrl: pager.url },
        },
        policies: [{ name: 'default', maxRuntime: '1h', notify: ['hook', 'pager'] }],
      });
      const base = memorySecrets(servers);
      const secrets = {
        get: async (name: string) =>
          name === 'pd' ? JSON.stringify({ routingKey: 'rk' }) : name === 'hook' ? JSON.stringify({ signingSecret: 'h' }) : base.get(name),
      };
      const c = (client ??= dynamoClient({ endpoint: engine.endpoint }));
      const tableName = `cap${++n}`;
      await ensureTable(c, tableName);
      const rt = buildRuntime(config, { client: c, tableName, secrets, now: clock.now, holder: 'sweep-a' });
      await runaway(rt, clock);
      await runaway(rt, clock);
      const hooks = servers.slack.hooks.length;
      expect(await rt.sweeper.run()).toMatchObject({ cancelled: 1, heldBackByCap: 1 });
      expect(pager.events.map((e) => [e.action, e.key])).toEqual([['trigger', 'watchdog/cancel-cap']]);
      expect(pager.events[0]!.body).toMatchObject({ payload: { summary: 'Cancel cap reached: 1 runaway(s) held back', severity: 'critical' } });
      const sent = servers.slack.hooks.slice(hooks).map((h) => h.body as Record<string, unknown>);
      expect(sent.find((b) => b.title === 'Cancel cap reached: 1 runaway(s) held back')).toMatchObject({
        severity: 'alert',
        kind: 'alert',
        heldBack: 1,
        cap: 1,
        sweeper: 'sweep-a',
      });
    } finally {
      await pager.close();
    }
  });
});

describe("the fleet's own alerts: their words", () => {
  /** A runtime on catalyzed alone whose policy notifies a signed webhook at `path`, with its log in view. */
  async function hooked(path: string, settings: Record<string, unknown> = {}) {
    const clock = new Clock(Date.now());
    const config = compileConfig({
      settings: { probeEvery: '0', ...settings },
      connections: { 'catalyzed-c': { provider: 'catalyzed', baseUrl: servers.sims.catalyzed.url, secret: 'key-catalyzed' } },
      notify: { hook: { type: 'webhook', url: `${servers.slack.hookBase}/${path}`, secret: 'hook' } },
      policies: [{ name: 'default', maxRuntime: '1h', notify: ['hook'] }],
    });
    const base = memorySecrets(servers);
    const secrets = { get: async (name: string) => (name === 'hook' ? JSON.stringify({ signingSecret: 'h' }) : base.get(name)) };
    const c = (client ??= dynamoClient({ endpoint: engine.endpoint }));
    const tableName = `words${++n}`;
    await ensureTable(c, tableName);
    const logs: Array<[string, string]> = [];
    const log = {
      info: (m: string) => void logs.push(['info', m]),
      warn: (m: string) => void logs.push(['warn', m]),
      error: (m: string) => void logs.push(['error', m]),
    };
    const rt = buildRuntime(config, { client: c, tableName, secrets, now: clock.now, holder: 'sweep-a', log });
    const sent = () => servers.slack.hooks.filter((h) => h.path.endsWith(`/${path}`)).map((h) => h.body as Record<string, unknown>);
    return { rt, clock, logs, sent };
  }

  it('a connection probe: unhealthy (an alert, logged as an error), recovered (info), and nothing while it stays so', async () => {
    const { rt, clock, logs, sent } = await hooked('probe', { probeEvery: '1m' });
    servers.sims.catalyzed.faults = { errorRate: 1 };
    let down;
    try {
      down = await rt.sweeper.run();
    } finally {
      servers.sims.catalyzed.faults = {};
    }
    expect(down.probes).toEqual([expect.objectContaining({ connection: 'catalyzed-c', healthy: false, changed: true })]);
    const detail = down.probes[0]!.detail;
    expect(sent()).toEqual([
      expect.objectContaining({
        severity: 'alert',
        title: 'Connection unhealthy: catalyzed-c',
        text: `The watchdog cannot use catalyzed-c: ${detail}. Cancels on it will fail until this is fixed (watchdog doctor checks it).`,
        kind: 'alert',
        connection: 'catalyzed-c',
        healthy: false,
      }),
    ]);
    expect(logs.filter(([, m]) => m === 'connection probe')).toEqual([['error', 'connection probe']]);
    clock.advance(MIN);
    const up = await rt.sweeper.run();
    expect(up.probes).toEqual([expect.objectContaining({ healthy: true, changed: true })]);
    expect(sent()[1]).toMatchObject({
      severity: 'info',
      title: 'Connection recovered: catalyzed-c',
      text: `The probe of catalyzed-c succeeds again: ${up.probes[0]!.detail}.`,
      healthy: true,
    });
    expect(logs.filter(([, m]) => m === 'connection probe').map(([l]) => l)).toEqual(['error', 'info']);
    clock.advance(30_000); // not yet its minute: no probe
    expect((await rt.sweeper.run()).probes).toEqual([]);
    clock.advance(30_000);
    expect((await rt.sweeper.run()).probes).toEqual([expect.objectContaining({ healthy: true, changed: false })]);
    expect(sent()).toHaveLength(2);
  });

  it('an unreadable item: quarantined once, with what to do, to the policy it names (or the default one)', async () => {
    const { rt, logs, sent } = await hooked('quarantine');
    const poison = (id: string, policy?: string) => putUnreadable(client!, rt.table.name, id, policy ? { policy } : {});
    await poison('wd_poisonedw001', 'default');
    await poison('wd_poisonedw002');
    expect((await rt.sweeper.run()).quarantined).toBe(2);
    const alerts = sent().filter((b) => b.kind === 'alert');
    expect(alerts.map((b) => b.title).sort()).toEqual([
      'Unreadable execution quarantined: catalyzed-c/wd_poisonedw001-x',
      'Unreadable execution quarantined: catalyzed-c/wd_poisonedw002-x',
    ]);
    const one = alerts.find((b) => b.executionId === 'wd_poisonedw001')!;
    expect(one.text).toBe(
      `The stored item wd_poisonedw001 cannot be read (${String(one.error)}). It was taken out of enforcement and kept for inspection: \`watchdog list --state quarantined\`. If it is still running on the platform, cancel it by hand.`,
    );
    expect(logs.filter(([, m]) => m === 'sweep: unreadable item quarantined')).toHaveLength(2);
    expect((await rt.sweeper.run()).quarantined).toBe(0);
    expect(sent().filter((b) => b.kind === 'alert')).toHaveLength(2);
  });

  it('the cancel cap: how many were cancelled, how many held back, and what to do', async () => {
    const { rt, clock, logs, sent } = await hooked('capwords', { maxCancelsPerSweep: 1 });
    await runaway(rt, clock);
    await runaway(rt, clock);
    await runaway(rt, clock);
    expect(await rt.sweeper.run()).toMatchObject({ cancelled: 1, heldBackByCap: 2 });
    expect(sent().find((b) => b.kind === 'alert')).toMatchObject({
      severity: 'alert',
      title: 'Cancel cap reached: 2 runaway(s) held back',
      text: 'This sweep cancelled 1 executions (settings.maxCancelsPerSweep) and held back 2 more. They stay due and are retried by the next sweep; if this is a bad policy, set it to dry-run now.',
      heldBack: 2,
      cap: 1,
    });
    expect(logs).toContainEqual(['error', 'cancel cap reached']);
  });
});
