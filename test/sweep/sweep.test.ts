/**
 * The sweep end to end on DynamoDB Local with the five provider simulators and a Slack
 * stand-in: one cancel per decision, warnings first, nothing lost.
 */
import { type DynamoDBClient, PutItemCommand, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WatchdogConfig } from '../../src/config/load.js';
import type { Execution } from '../../src/core/model.js';
import type { Engine } from '../../src/local/engines.js';
import { startDynalite, startDynamoDbLocal } from '../../src/local/engines.js';
import type { Runtime } from '../../src/runtime.js';
import type { SweepSummary } from '../../src/app/sweep.js';
import { HOUR, MIN, SEC, T0 } from '../helpers/fixtures.js';
import { transitionsOn } from '../helpers/ops.js';
import { buildRuntime } from '../../src/runtime.js';
import {
  Clock,
  PLATFORMS,
  type Platform,
  type Servers,
  freshRuntime,
  memorySecrets,
  peer,
  putUnreadable,
  startServers,
  worldConfig,
} from '../helpers/world.js';

/**
 * Under mutation testing (MUTATION_SCOPE set): dynalite, a smaller fleet and crowd, and the tests
 * that wait out real timeouts (10 s and more each) left to CI — the protocol model covers those faults.
 */
const MUTATING = process.env.MUTATION_SCOPE !== undefined;
/** The fleet of the concurrency test: 2,000 runaways (40 per mutant under mutation testing). */
const FLEET = MUTATING ? 40 : 2000;
let engine: Engine;
let servers: Servers;
let client: DynamoDBClient | undefined;

beforeAll(async () => {
  // `npm run mutation -- --scope protocol` runs this suite on dynalite (no Java, faster per mutant).
  [engine, servers] = await Promise.all([MUTATING ? startDynalite() : startDynamoDbLocal(), startServers()]);
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});

beforeEach(() => {
  for (const s of Object.values(servers.sims)) {
    s.executions.clear();
    s.cancelCalls.clear();
    s.faults = {};
  }
  servers.slack.posts.length = 0;
  servers.slack.failNext = 0;
});

const actor = { id: 'test', via: 'test' };

async function world(over: Parameters<typeof worldConfig>[1] = {}, http = {}) {
  const clock = new Clock(T0);
  const config: WatchdogConfig = worldConfig(servers, over);
  const w = await freshRuntime(engine, client, config, servers, clock, http);
  client = w.client;
  return { ...w, clock, config };
}

/** Track an execution that started `agoMs` before now and exists on its simulator. */
async function runaway(
  rt: Runtime,
  clock: Clock,
  platform: Platform,
  id: string,
  o: { agoMs?: number; policy?: string; total?: number } = {},
): Promise<Execution> {
  servers.sims[platform].add({ id, state: 'running', startedAt: clock.t - (o.agoMs ?? 2 * HOUR), ...(o.total ? { total: o.total } : {}) });
  const { execution } = await rt.watchdog.track(
    { connection: `${platform}-c`, externalId: id, policy: o.policy ?? 'bulk', startedAt: clock.t - (o.agoMs ?? 2 * HOUR) },
    actor,
  );
  return execution;
}

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Sweep until nothing is due (moving the clock past retry and check times), at most `max` rounds. */
async function drain(rts: Runtime[], clock: Clock, step = 11 * MIN, max = 40): Promise<SweepSummary[]> {
  const all: SweepSummary[] = [];
  for (let i = 0; i < max; i++) {
    const round = await Promise.all(rts.map((r) => r.sweeper.run()));
    all.push(...round);
    if ((await rts[0]!.store.due(clock.t + 24 * HOUR)).items.length === 0) break;
    clock.advance(step);
    await new Promise((r) => setTimeout(r, 60)); // let Kodexa's CANCELLING become CANCELLED
  }
  return all;
}

const sum = (xs: SweepSummary[], k: keyof SweepSummary) => xs.reduce((n, s) => n + (s[k] as number), 0);

describe('sweep on DynamoDB Local', () => {
  it('4 concurrent sweeps over 2,000 due runaways on five platforms: exactly one provider cancel each', async () => {
    const { rt, client: c, tableName, clock } = await world();
    const ids = Array.from({ length: FLEET }, (_, i) => ({ platform: PLATFORMS[i % 5]!, id: `run-${i}` }));
    await inBatches(ids, 64, (x) => runaway(rt, clock, x.platform, x.id));
    const sweepers = [rt, ...['b', 'c', 'd'].map((o) => peer(rt, servers, c, tableName, clock, `sweep-${o}`))];

    const summaries = await drain(sweepers, clock, 30 * SEC);

    for (const x of ids) expect(servers.sims[x.platform].cancelCalls.get(x.id), `${x.platform}/${x.id}`).toBe(1);
    expect(sum(summaries, 'cancelCalls')).toBe(FLEET);
    expect(sum(summaries, 'lostRaces')).toBeGreaterThan(0); // the sweeps really did collide
    const cancelled = await rt.store.list({ state: 'cancelled', limit: 5000 });
    expect(cancelled.items).toHaveLength(FLEET);
    expect((await rt.store.due(clock.t + 10 * HOUR)).items).toHaveLength(0);
  }, 120_000);

  it('a sweep killed right after claiming: the next sweep checks status first and finishes the claim', async () => {
    const { rt, clock } = await world();
    const never = await runaway(rt, clock, 'catalyzed', 'killed-before-call');
    const called = await runaway(rt, clock, 'superglue', 'killed-after-call');
    for (const e of [never, called]) {
      const claim = await transitionsOn(rt.store, rt.config).claimCancel(
        e.id,
        { holder: 'dead-sweep', leaseMs: 2 * MIN, reasons: ['runtime'], actor },
        clock.t,
      );
      expect(claim.ok).toBe(true);
    }
    // The dead sweep did reach the provider for one of them before dying.
    await rt.providers.forConnection('superglue-c').cancel('killed-after-call');

    // Within the lease nobody touches them.
    expect((await rt.sweeper.run()).cancelCalls).toBe(0);
    clock.advance(3 * MIN);
    const s = await rt.sweeper.run();

    expect(servers.sims.catalyzed.cancelCalls.get('killed-before-call')).toBe(1);
    expect(servers.sims.superglue.cancelCalls.get('killed-after-call')).toBe(1); // not sent twice
    expect(s.cancelled).toBe(2);
    for (const e of [never, called]) {
      const shown = await rt.watchdog.show(e.id);
      expect(shown.execution.state).toBe('cancelled');
      expect(shown.events.map((ev) => ev.what)).toContain('cancel claimed (expired lease recovered)');
    }
  }, 30_000);

  it.skipIf(MUTATING)(
    '30% 5xx plus timeouts: every runaway ends cancelled or visibly failed, with attempts recorded',
    async () => {
      const { rt, clock } = await world({ settings: { maxCancelAttempts: 6 } }, { attempts: 1, timeoutMs: 150 });
      const ids = Array.from({ length: 100 }, (_, i) => ({ platform: PLATFORMS[i % 5]!, id: `flaky-${i}` }));
      await inBatches(ids, 50, (x) => runaway(rt, clock, x.platform, x.id));
      for (const s of Object.values(servers.sims)) s.faults = { errorRate: 0.3, hangRate: 0.05 };

      const summaries = await drain([rt], clock, 11 * MIN, 30);

      expect(sum(summaries, 'retried')).toBeGreaterThan(0);
      const states = new Map<string, number>();
      for (const x of ids) {
        const e = (await rt.store.get(rt.watchdog.resolveId(`${x.platform}-c/${x.id}`)))!;
        states.set(e.state, (states.get(e.state) ?? 0) + 1);
        expect(['cancelled', 'cancel_failed', 'cancel_unconfirmed']).toContain(e.state);
        expect(e.attempts).toBeGreaterThanOrEqual(1);
        if (e.state !== 'cancelled') expect(e.lastError).toBeTruthy();
      }
      expect(states.get('cancelled') ?? 0).toBeGreaterThan(80);
    },
    120_000,
  );

  it.skipIf(MUTATING)('a cancel that landed but timed out is not sent again: the retry reads the status first', async () => {
    // Three HTTP attempts allowed: a cancel must still go out once (only reads are retried in a call).
    // undici's headers and body timers tick at about 1 s: a 1 s timeout against a 2.5 s answer.
    const { rt, clock } = await world({}, { attempts: 3, timeoutMs: 1_000, baseBackoffMs: 1, maxBackoffMs: 5 });
    const sync = await runaway(rt, clock, 'catalyzed', 'landed-sync');
    const async_ = await runaway(rt, clock, 'kodexa', 'landed-async');
    for (const p of ['catalyzed', 'kodexa'] as const) servers.sims[p].faults = { latencyMs: 2_500 }; // acted on, answered too late

    const first = await rt.sweeper.run();
    expect(first.retried).toBe(2);
    for (const p of ['catalyzed', 'kodexa'] as const) servers.sims[p].faults = {};
    clock.advance(MIN);
    await rt.sweeper.run();
    await drain([rt], clock, MIN, 5);

    expect(servers.sims.catalyzed.cancelCalls.get('landed-sync')).toBe(1);
    expect(servers.sims.kodexa.cancelCalls.get('landed-async')).toBe(1);
    for (const e of [sync, async_]) {
      const shown = await rt.watchdog.show(e.id);
      expect(shown.execution.state).toBe('cancelled');
      expect(shown.events.map((ev) => ev.what)).toContain('cancel will be retried');
    }
  });

  it("no claim waits for a provider slot: a slow provider delays the others' claims (never their leases); past the sweep's deadline the rest stay unclaimed and due", async () => {
    const { rt, clock } = await world({ settings: { providerConcurrency: 1, leaseDuration: '2m' } });
    const ids = ['slot-a', 'slot-b', 'slot-c'];
    for (const id of ids) await runaway(rt, clock, 'catalyzed', id);
    // Each call is slow in the sweep's clock (90 s, most of a lease): claims are taken only
    // once the slot is free, so each lease starts when its own call does.
    servers.sims.catalyzed.onCancel = () => clock.advance(90 * SEC);
    try {
      const first = await rt.sweeper.run();
      expect(first).toMatchObject({ cancelCalls: 3, cancelled: 3, deferredForTime: 0, lostRaces: 0 });
      // With a deadline (the next schedule in a minute), the first slow call uses it up: the
      // others are deferred before any claim, so nothing sits in `cancelling` on an idle lease.
      for (const id of ['slot-d', 'slot-e', 'slot-f']) await runaway(rt, clock, 'catalyzed', id);
      const bounded = await rt.sweeper.run({ scheduleMs: MIN });
      expect(bounded).toMatchObject({ cancelCalls: 1, deferredForTime: 2 });
      const states = await Promise.all(
        ['slot-d', 'slot-e', 'slot-f'].map(async (id) => (await rt.store.get(rt.watchdog.resolveId(`catalyzed-c/${id}`)))!.state),
      );
      expect(states.sort()).toEqual(['cancelled', 'running', 'running']);
    } finally {
      servers.sims.catalyzed.onCancel = undefined;
    }
    await drain([rt], clock, MIN, 5);
    for (const id of [...ids, 'slot-d', 'slot-e', 'slot-f']) {
      expect(servers.sims.catalyzed.cancelCalls.get(id)).toBe(1);
      expect((await rt.store.get(rt.watchdog.resolveId(`catalyzed-c/${id}`)))!.state).toBe('cancelled');
    }
  });

  it('a run that finishes between the due query and the cancel is marked finished, not cancelled (every platform)', async () => {
    const { rt, clock } = await world();
    for (const p of PLATFORMS) await runaway(rt, clock, p, `racer-${p}`);
    // Finish each run on its platform right after the sweep's due query.
    const store = rt.store;
    const due = store.due.bind(store);
    store.due = async (...args) => {
      const r = await due(...args);
      for (const p of PLATFORMS) {
        const sim = servers.sims[p].executions.get(`racer-${p}`)!;
        Object.assign(sim, { state: 'succeeded', endedAt: Date.now() });
      }
      return r;
    };
    const s = await rt.sweeper.run();
    store.due = due;
    expect(s.cancelled).toBe(0);
    expect(s.alreadyFinished).toBe(5);
    for (const p of PLATFORMS) {
      const e = (await rt.store.get(rt.watchdog.resolveId(`${p}-c/racer-${p}`)))!;
      expect(e.state, p).toBe('finished');
    }
  }, 30_000);

  it('a stalled run is observed first: finished on the provider means no cancel call at all', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'kodexa', 'stalled-but-done', { agoMs: 30 * MIN, policy: 'strict' });
    Object.assign(servers.sims.kodexa.executions.get('stalled-but-done')!, { state: 'succeeded', endedAt: Date.now() });
    clock.advance(0);
    const s = await rt.sweeper.run();
    expect(s.finished).toBe(1);
    expect(servers.sims.kodexa.cancelCalls.size).toBe(0);
    expect((await rt.store.get(e.id))!.state).toBe('finished');
  });

  it('provider progress refutes a stall: the run is not cancelled', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'catalyzed', 'moving', { agoMs: 25 * MIN, policy: 'strict', total: 100 });
    servers.sims.catalyzed.executions.get('moving')!.done = 40;
    const s = await rt.sweeper.run();
    expect(s.cancelCalls).toBe(0);
    const after = (await rt.store.get(e.id))!;
    expect(after.state).toBe('running');
    expect(after.lastProgressAt).toBe(clock.t);
    expect(after.dueAt).toBeGreaterThan(clock.t);
  });

  it('warns once per limit with buttons, then posts the cancel in the warning thread', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'catalyzed', 'warn-me', { agoMs: 50 * MIN, policy: 'strict', total: 100 });
    servers.sims.catalyzed.executions.get('warn-me')!.done = 1;
    for (let i = 0; i < 3; i++) {
      await rt.sweeper.run();
      clock.advance(30 * SEC);
    }
    expect(servers.slack.posts).toHaveLength(1);
    const warning = servers.slack.posts[0]!;
    expect(warning.channel).toBe('#oncall');
    expect(warning.text).toContain('Runaway warning');
    const actions = (warning.blocks as Array<{ type: string; elements?: Array<{ value: string }> }>).find((b) => b.type === 'actions')!;
    expect(actions.elements!.map((x) => JSON.parse(x.value))).toEqual([
      { a: 'extend', id: e.id, d: '30m' },
      { a: 'cancel', id: e.id },
      { a: 'snooze', id: e.id, d: '1h' },
    ]);

    clock.advance(15 * MIN);
    const s = await rt.sweeper.run();
    expect(s.cancelled).toBe(1);
    expect(servers.slack.posts).toHaveLength(2);
    expect(servers.slack.posts[1]!.thread_ts).toBe(warning.ts);
    expect(servers.slack.posts[1]!.text).toContain('Cancelled');
  });

  it('a notification failure never blocks enforcement; it is retried and recorded', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'ionworks', 'quiet-chat', { policy: 'strict' });
    servers.slack.failNext = 1;
    const s = await rt.sweeper.run();
    expect(s.cancelled).toBe(1);
    expect(s.noticesFailed).toBe(1);
    let shown = await rt.watchdog.show(e.id);
    expect(shown.execution.state).toBe('cancelled');
    expect(shown.execution.outbox).toHaveLength(1);
    expect(shown.events.some((ev) => ev.what === 'notification failed' && /internal_error/.test(ev.detail ?? ''))).toBe(true);

    clock.advance(20 * SEC);
    const again = await rt.sweeper.run();
    expect(again.noticesSent).toBe(1);
    expect(servers.slack.posts.map((p) => p.text).join()).toContain('Cancelled');
    shown = await rt.watchdog.show(e.id);
    expect(shown.execution.outbox).toBeUndefined();
    expect(shown.execution.dueAt).toBeUndefined(); // out of the due index once nothing is pending
  });

  it('dry-run policy: records and notifies "would cancel" once, never calls the provider', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'meibel', 'dry', { policy: 'preview' });
    for (let i = 0; i < 3; i++) {
      await rt.sweeper.run();
      clock.advance(2 * HOUR);
    }
    expect(servers.sims.meibel.cancelCalls.size).toBe(0);
    const shown = await rt.watchdog.show(e.id);
    expect(shown.execution.state).toBe('running');
    expect(shown.events.filter((ev) => ev.what === 'would cancel (dry-run)')).toHaveLength(1);
    expect(servers.slack.posts.filter((p) => p.text.includes('Would cancel'))).toHaveLength(1);
  });

  it("`sweep --preview` changes nothing at all, and says preview_cancel (not a dry-run policy's would_cancel)", async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'catalyzed', 'preview-me');
    const s = await rt.sweeper.run({ preview: true });
    expect(s.actions.map((a) => a.action)).toEqual(['preview_cancel']);
    expect(s).toMatchObject({ previewCancels: 1, wouldCancel: 0 });
    expect(servers.sims.catalyzed.cancelCalls.size).toBe(0);
    expect((await rt.store.get(e.id))!.version).toBe(e.version);
  });

  it('the cancel cap holds back the rest, alerts, and the next sweep continues', async () => {
    const { rt, clock } = await world({ settings: { maxCancelsPerSweep: 3 } });
    for (let i = 0; i < 5; i++) await runaway(rt, clock, 'superglue', `capped-${i}`, { policy: 'strict' });
    const first = await rt.sweeper.run();
    expect(first.cancelCalls).toBe(3);
    expect(first.heldBackByCap).toBe(2);
    expect(servers.slack.posts.some((p) => p.text.includes('Cancel cap reached'))).toBe(true);
    const second = await rt.sweeper.run();
    expect(second.cancelCalls).toBe(2);
    expect(servers.sims.superglue.cancelCalls.size).toBe(5);
  });

  it('Kodexa CANCELLING: pending, then confirmed cancelled by a later status check', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'kodexa', 'slow-cancel');
    const first = await rt.sweeper.run();
    expect(first.pending).toBe(1);
    expect((await rt.store.get(e.id))!.state).toBe('cancelling');
    await new Promise((r) => setTimeout(r, 80));
    clock.advance(61 * SEC);
    const second = await rt.sweeper.run();
    expect(second.cancelled).toBe(1);
    expect(servers.sims.kodexa.cancelCalls.get('slow-cancel')).toBe(1);
  });

  it('a cancel accepted but never effective is sent once more, then ends cancel_unconfirmed with an alert', async () => {
    const { rt, clock } = await world({ settings: { confirmWithin: '5m' } });
    const e = await runaway(rt, clock, 'kodexa', 'stuck-cancel', { policy: 'strict' });
    const sim = servers.sims.kodexa;
    await rt.sweeper.run();
    sim.executions.get('stuck-cancel')!.cancelledAt = Date.now() + HOUR; // never completes during the test
    await drain([rt], clock, MIN, 20);
    expect(sim.cancelCalls.get('stuck-cancel')).toBe(2);
    const shown = await rt.watchdog.show(e.id);
    expect(shown.execution.state).toBe('cancel_unconfirmed');
    expect(shown.events.map((ev) => ev.what)).toContain('cancel sent again (not confirmed in time)');
    expect(servers.slack.posts.some((p) => p.text.startsWith('Cancel unconfirmed'))).toBe(true);
  });

  it('a wrong API key ends cancel_failed at once, with an alert', async () => {
    const { rt, clock } = await world({ connections: { 'catalyzed-c': { provider: 'catalyzed', baseUrl: servers.sims.catalyzed.url, secret: 'key-wrong' } } });
    const e = await runaway(rt, clock, 'catalyzed', 'bad-key', { policy: 'strict' });
    const s = await rt.sweeper.run();
    expect(s.cancelFailed).toBe(1);
    const after = (await rt.store.get(e.id))!;
    expect(after.state).toBe('cancel_failed');
    expect(after.lastError).toMatch(/credentials/);
    expect(servers.slack.posts.some((p) => p.text.startsWith('Cancel FAILED'))).toBe(true);
  });

  it('Meibel 429: retried no earlier than its Retry-After, then cancelled', async () => {
    const { rt, clock } = await world({}, { attempts: 1 });
    const e = await runaway(rt, clock, 'meibel', 'busy');
    servers.sims.meibel.faults = { rateLimitNext: 2, retryAfterSec: 120 }; // the status read first (ambiguous cancel), then the cancel
    const s = await rt.sweeper.run();
    expect(s.retried).toBe(1);
    const after = (await rt.store.get(e.id))!;
    expect(after.state).toBe('cancel_requested');
    expect(after.nextAttemptAt! - clock.t).toBeGreaterThanOrEqual(120 * SEC);
    expect((await rt.sweeper.run()).cancelCalls).toBe(0); // not yet
    clock.advance(11 * MIN);
    expect((await rt.sweeper.run()).cancelled).toBe(1);
  });

  it('an extension that lands after the due query wins over the stale decision', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock, 'ionworks', 'extended', { agoMs: 61 * MIN });
    const store = rt.store;
    const due = store.due.bind(store);
    store.due = async (...args) => {
      const r = await due(...args);
      await rt.watchdog.extend(e.id, '30m', actor, 'still needed');
      return r;
    };
    const s = await rt.sweeper.run();
    store.due = due;
    expect(s.cancelCalls).toBe(0);
    expect((await rt.store.get(e.id))!.state).toBe('running');
  });

  it('a heartbeating run never reaches the sweep; one whose stored due time comes first is rescheduled (no provider call); when the heartbeats stop it is warned and cancelled on time', async () => {
    const { rt, clock } = await world({ policies: [{ name: 'hb', heartbeatTimeout: '10m', notify: ['chat'] }] });
    servers.sims.catalyzed.add({ id: 'alive', state: 'running', startedAt: clock.t });
    const { execution } = await rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'alive', policy: 'hb' }, actor);
    expect(execution.dueAt).toBe(T0 + 8 * MIN); // warn time: 80% of 10m
    const requests: string[] = [];
    // Connection probes (their own cadence) aside, every request is about this run.
    servers.sims.catalyzed.onRequest = (r) => {
      if (!r.path.includes('probe')) requests.push(`${r.method} ${r.path}`);
    };
    const sweep = async () => {
      const s = await rt.sweeper.run();
      return { due: s.due, rescheduled: s.rescheduled, warned: s.warned, cancelled: s.cancelled };
    };
    try {
      // Heartbeats every minute: the stored due time moves only once it is near (within a
      // quarter of the new horizon: minutes 6 and 12), so no sweep finds it due.
      const dues: number[] = [];
      for (let m = 1; m <= 12; m++) {
        clock.advance(MIN);
        dues.push((await rt.watchdog.heartbeat(execution.id, {})).dueAt! - T0);
        expect(await sweep()).toEqual({ due: 0, rescheduled: 0, warned: 0, cancelled: 0 });
      }
      expect(dues.map((d) => d / MIN)).toEqual([8, 8, 8, 8, 8, 14, 14, 14, 14, 14, 14, 20]);
      // A heartbeat while the stored due time is still far (minute 14) leaves it at 20; at 20
      // the sweep finds it due, sees that heartbeat and reschedules it to 22: no call, no warning.
      clock.advance(2 * MIN);
      expect((await rt.watchdog.heartbeat(execution.id, {})).dueAt).toBe(T0 + 20 * MIN);
      clock.advance(6 * MIN);
      expect(await sweep()).toEqual({ due: 1, rescheduled: 1, warned: 0, cancelled: 0 });
      expect(await rt.store.get(execution.id)).toMatchObject({ state: 'running', heartbeats: 13, dueAt: T0 + 22 * MIN });
      expect(requests).toEqual([]);
      expect(servers.slack.posts).toHaveLength(0);

      clock.advance(2 * MIN); // 8 minutes after the last heartbeat: warn
      expect(await sweep()).toMatchObject({ warned: 1 });
      expect(servers.slack.posts.map((p) => p.text)).toEqual([expect.stringContaining('Runaway warning')]);
      clock.advance(2 * MIN); // 10 minutes: cancel
      expect(await sweep()).toMatchObject({ cancelled: 1 });
      expect(servers.sims.catalyzed.cancelCalls.get('alive')).toBe(1);
    } finally {
      servers.sims.catalyzed.onRequest = undefined;
    }
  });

  it('stops claiming when the invocation runs out of time; the rest stays due', async () => {
    const { rt, clock } = await world();
    await runaway(rt, clock, 'catalyzed', 'late-1');
    await runaway(rt, clock, 'catalyzed', 'late-2');
    const s = await rt.sweeper.run({ remainingMs: () => 5_000, reserveMs: 10_000 });
    expect(s.cancelCalls).toBe(0);
    expect(s.deferredForTime).toBe(2);
    expect((await rt.store.due(clock.t)).items).toHaveLength(2);
  });

  it('DynamoDB throttling on the outcome write (SDK retries exhausted): no lost execution, no second cancel', async () => {
    const { rt, client: c, clock } = await world();
    const e = await runaway(rt, clock, 'superglue', 'throttled');
    const send = c.send.bind(c);
    const spy = vi.spyOn(c, 'send').mockImplementation(((cmd: unknown) => {
      if (cmd instanceof PutItemCommand && cmd.input.Item?.state?.S === 'cancelled') {
        return Promise.reject(new ProvisionedThroughputExceededException({ message: 'throttled', $metadata: {} }));
      }
      return send(cmd as never);
    }) as never);
    let first;
    try {
      first = await rt.sweeper.run();
    } finally {
      spy.mockRestore();
    }
    // The failed write is a fault recorded on the execution (not a sweep error): counted, backed off.
    expect(first.faults).toBe(1);
    expect(first.errors).toBe(0);
    expect(servers.sims.superglue.cancelCalls.get('throttled')).toBe(1);
    expect((await rt.store.get(e.id))!.state).toBe('cancelling'); // claimed, outcome not yet recorded
    clock.advance(3 * MIN); // the lease expires; a later sweep recovers it, status first
    const second = await rt.sweeper.run();
    expect(second.cancelled).toBe(1);
    expect(servers.sims.superglue.cancelCalls.get('throttled')).toBe(1);
    expect((await rt.store.get(e.id))!.state).toBe('cancelled');
  });

  it('a chat cancel racing the sweep: one provider call', async () => {
    const { rt, client: c, tableName, clock } = await world();
    const e = await runaway(rt, clock, 'superglue', 'raced');
    const other = peer(rt, servers, c, tableName, clock, 'sweep-b');
    const [manual] = await Promise.all([rt.watchdog.cancelNow(e.id, { id: 'slack:U1', via: 'slack' }, 'stop it', 5_000), other.sweeper.run()]);
    expect('status' in manual || manual.outcome === 'cancel_in_progress').toBe(true);
    await drain([rt], clock, MIN, 5);
    expect(servers.sims.superglue.cancelCalls.get('raced')).toBe(1);
    expect((await rt.store.get(e.id))!.state).toBe('cancelled');
  });
});

describe('fault isolation: no fault on one execution stops the others, none is silent', () => {
  // Under mutation testing a smaller crowd (the same faults).
  const CROWD = MUTATING ? 20 : 200;
  it('a poisoned item, a missing secret and a throwing adapter among 200 runaways: the other 200 are cancelled in the same sweep; the three end visible and alerted', async () => {
    const {
      rt,
      client: c,
      tableName,
      clock,
      config,
    } = await world({
      connections: {
        'nokey-c': { provider: 'superglue', baseUrl: servers.sims.superglue.url, secret: 'key-missing' },
        'boom-c': { provider: 'superglue', baseUrl: servers.sims.superglue.url, secret: 'key-superglue' },
      },
    });
    // An adapter lookup that throws something no one planned for (a bug), for one connection.
    const registry = rt.providers;
    const sweeper = buildRuntime(config, {
      client: c,
      tableName,
      secrets: memorySecrets(servers),
      now: clock.now,
      holder: 'sweep-a',
      providers: {
        forConnection: (name) => {
          if (name === 'boom-c') throw new TypeError('boom: undefined is not a function');
          return registry.forConnection(name);
        },
      },
    }).sweeper;
    const ids = Array.from({ length: CROWD }, (_, i) => ({ platform: PLATFORMS[i % 5]!, id: `iso-${i}` }));
    await inBatches(ids, 50, (x) => runaway(rt, clock, x.platform, x.id));
    servers.sims.superglue.add({ id: 'nokey-1', startedAt: clock.t - 2 * HOUR });
    servers.sims.superglue.add({ id: 'boom-1', startedAt: clock.t - 2 * HOUR });
    const nokey = (await rt.watchdog.track({ connection: 'nokey-c', externalId: 'nokey-1', policy: 'strict', startedAt: clock.t - 2 * HOUR }, actor)).execution;
    const boom = (await rt.watchdog.track({ connection: 'boom-c', externalId: 'boom-1', policy: 'strict', startedAt: clock.t - 2 * HOUR }, actor)).execution;
    // A poisoned item: due now, but not an execution the store can read.
    await putUnreadable(c, tableName, 'wd_poisoned0001', { connection: 'kodexa-c', externalId: 'poison-1', policy: 'strict' });

    const first = await sweeper.run();
    // On failure, say which executions did what instead.
    const others = first.actions.filter(
      (a) =>
        !['cancelled', 'cancel_pending', 'quarantined', 'fault', 'retry'].includes(a.action) || (a.action === 'retry' && !a.externalId.startsWith('nokey')),
    );
    expect(first.cancelled + first.pending, JSON.stringify(others.slice(0, 5))).toBe(CROWD);
    for (const x of ids) expect(servers.sims[x.platform].cancelCalls.get(x.id), x.id).toBe(1);
    expect(first.quarantined).toBe(1);
    expect(first.faults).toBe(1);
    expect(first.errors).toBe(0);
    expect(await rt.store.quarantined()).toEqual([
      expect.objectContaining({ id: 'wd_poisoned0001', connection: 'kodexa-c', externalId: 'poison-1', error: expect.stringMatching(/expected/) }),
    ]);
    expect(servers.slack.posts.some((p) => /quarantined/.test(JSON.stringify(p)))).toBe(true);
    expect(await rt.store.get(nokey.id)).toMatchObject({
      state: 'cancel_requested',
      lastError: expect.stringMatching(/cannot read the connection's secret/),
    });
    expect(await rt.store.get(boom.id)).toMatchObject({ faults: 1, lastError: expect.stringMatching(/boom/) });
    // A second sweep does not quarantine (or alert) again; later sweeps settle both faults visibly.
    const all = await drain([{ ...rt, sweeper }], clock);
    expect(sum(all, 'quarantined')).toBe(0);
    expect(sum(all, 'errors')).toBe(0);
    expect(await rt.store.get(nokey.id)).toMatchObject({
      state: 'cancel_failed',
      lastError: expect.stringMatching(/gave up after 8 attempts: cannot read the connection's secret/),
    });
    expect(await rt.store.get(boom.id)).toMatchObject({ state: 'cancel_failed', lastError: expect.stringMatching(/failed 8 times handling it: boom/) });
    const alerts = servers.slack.posts.map((p) => JSON.stringify(p)).filter((t) => /Cancel FAILED/.test(t));
    expect(alerts.some((t) => t.includes('nokey-1'))).toBe(true);
    expect(alerts.some((t) => t.includes('boom-1'))).toBe(true);
    expect(servers.sims.superglue.cancelCalls.get('nokey-1')).toBeUndefined();
  }, 120_000);
});

describe('connection probes', () => {
  it('healthy, bad key, unreachable: one notice per incident, one on recovery, once per probeEvery across sweeps', async () => {
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    const {
      rt,
      client: c,
      tableName,
      clock,
      config,
    } = await world({
      settings: { probeEvery: '10m' },
      connections: {
        'badkey-c': { provider: 'superglue', baseUrl: servers.sims.superglue.url, secret: 'key-rotating' },
        'unreach-c': { provider: 'kodexa', baseUrl: `http://127.0.0.1:${closed}`, secret: 'key-kodexa' },
      },
    });
    const base = memorySecrets(servers);
    let rotating = 'not-the-key';
    const secrets = { get: (name: string) => (name === 'key-rotating' ? Promise.resolve(JSON.stringify({ apiKey: rotating })) : base.get(name)) };
    const a = buildRuntime(config, { client: c, tableName, secrets, now: clock.now, holder: 'sweep-a', http: { attempts: 1, timeoutMs: 500 } });
    const b = buildRuntime(config, { client: c, tableName, secrets, now: clock.now, holder: 'sweep-b', http: { attempts: 1, timeoutMs: 500 } });
    const incidents = () => servers.slack.posts.map((p) => JSON.stringify(p)).filter((t) => /Connection (unhealthy|recovered)/.test(t));

    const [s1, s2] = await Promise.all([a.sweeper.run(), b.sweeper.run()]);
    const probes = [...s1.probes, ...s2.probes];
    expect(probes.map((p) => p.connection).sort()).toEqual([...config.connections.keys()].sort()); // each once, across both sweeps
    const byName = new Map(probes.map((p) => [p.connection, p]));
    for (const p of PLATFORMS) expect(byName.get(`${p}-c`)?.healthy, p).toBe(true);
    expect(byName.get('badkey-c')).toMatchObject({ healthy: false, detail: expect.stringMatching(/credentials rejected \(HTTP 401\)/) });
    expect(byName.get('unreach-c')).toMatchObject({ healthy: false, detail: expect.stringMatching(/unreachable: ECONNREFUSED/) });
    expect(incidents()).toHaveLength(2);
    expect(rt.config.settings.probeEveryMs).toBe(10 * MIN);

    clock.advance(MIN); // not due again yet
    expect((await a.sweeper.run()).probes).toHaveLength(0);
    clock.advance(10 * MIN); // due, still broken: no second notice
    const again = await b.sweeper.run();
    expect(
      again.probes
        .filter((p) => !p.healthy)
        .map((p) => p.connection)
        .sort(),
    ).toEqual(['badkey-c', 'unreach-c']);
    expect(incidents()).toHaveLength(2);

    rotating = servers.sims.superglue.apiKey; // the key is fixed
    clock.advance(11 * MIN);
    const fixed = await a.sweeper.run();
    expect(fixed.probes.find((p) => p.connection === 'badkey-c')).toMatchObject({ healthy: true, changed: true });
    expect(incidents()).toHaveLength(3);
    expect(incidents()[2]).toMatch(/Connection recovered: badkey-c/);
  }, 60_000);
});
