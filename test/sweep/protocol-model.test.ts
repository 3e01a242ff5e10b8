/**
 * A model-based test of the cancel protocol (docs/development.md "The protocol model"):
 * random interleavings of what trackers, people, platforms and sweepers do — track,
 * heartbeats (progress, cost), extend, snooze, finish by the tracker, finish on the platform,
 * a person's cancel, sweeps by one or two concurrent holders, provider faults (429, 503, a
 * hang, a timeout after the cancel landed), a holder that crashes after its claim (before or
 * after its call), time passing past leases — run against the real store on dynalite and the
 * provider simulators, and after every step checked against a small reference model:
 *
 *  - at most one cancel request reaches the platform per decision (Kodexa: one more after
 *    `confirmWithin`, the documented re-send);
 *  - a run the platform finished is never recorded as cancelled;
 *  - a run whose limits are honoured (per the model's own arithmetic) is never cancelled by policy;
 *  - a breached run leaves running/warned at the first sweep after its breach, and every run
 *    ends terminal (cancelled, finished, or an alerted cancel_failed / cancel_unconfirmed)
 *    within a bounded number of sweeps once faults stop;
 *  - every state change has its audit event (the events chain from `running` to the state),
 *    and a terminal state never changes.
 *
 * Seeded and shrinking: a failure prints fast-check's seed and path; MODEL_SEED and
 * MODEL_PATH replay it, MODEL_RUNS sets the budget (`npm run model` runs a longer one).
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type WatchdogConfig, compileConfig } from '../../src/config/load.js';
import type { ProviderLookup } from '../../src/app/calls.js';
import { Tally, emptySummary } from '../../src/app/summary.js';
import type { Execution } from '../../src/core/model.js';
import { isTerminal } from '../../src/core/model.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { HOUR, MIN, SEC, T0 } from '../helpers/fixtures.js';
import { Clock, type Servers, memorySecrets, startServers } from '../helpers/world.js';

const PLATFORMS = ['catalyzed', 'kodexa'] as const;
type Platform = (typeof PLATFORMS)[number];
/** Cancel requests a run may receive: one per decision, and Kodexa's one re-send after confirmWithin. */
const MAX_CANCEL_CALLS: Record<Platform, number> = { catalyzed: 1, kodexa: 2 };
const MAX_RUNS = 4;
const QUIESCE_ROUNDS = 30;
const person = { id: 'slack:UONCALL', via: 'slack' };
const tracker = { id: 'tracker', via: 'api' };

let engine: Engine;
let servers: Servers;
let client: DynamoDBClient;

beforeAll(async () => {
  // Kodexa's CANCELLING lasts until the model settles it (SettleKodexa), not on a wall clock.
  [engine, servers] = await Promise.all([startDynalite(), startServers({ kodexaCancelMs: 1e12 })]);
  client = dynamoClient({ endpoint: engine.endpoint });
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});

// ---- the reference model -------------------------------------------------------------

type PolicyName = 'live' | 'quiet' | 'costly';
interface RunModel {
  key: string;
  platform: Platform;
  policy: PolicyName;
  startedAt: number;
  extensions: Array<{ at: number; ms: number }>;
  lastHeartbeatAt?: number;
  lastProgressAt?: number;
  progress: number;
  cost?: number;
  /** A person asked for the cancel (before any policy decision). */
  personCancel: boolean;
  /** A policy's decision was seen in the store (the cancel's requester is the policy). */
  policyDecision: boolean;
  /** The terminal state once seen: it never changes again. */
  terminal?: string;
}

interface Model {
  now: number;
  runs: RunModel[];
}

/** The model's own arithmetic of the three policies (see config() below): which limits are breached at `t`. */
function breached(r: RunModel, t: number): string[] {
  const out: string[] = [];
  const extended = r.extensions.reduce((n, x) => n + x.ms, 0);
  const grace = Math.max(-Infinity, ...r.extensions.map((x) => x.at + x.ms));
  if (r.policy === 'live') {
    if (t >= r.startedAt + HOUR + extended) out.push('runtime');
    if (t >= Math.max((r.lastProgressAt ?? r.startedAt) + 20 * MIN, grace)) out.push('stall');
    if (t >= Math.max((r.lastHeartbeatAt ?? r.startedAt) + 10 * MIN, grace)) out.push('heartbeat');
  } else if (r.policy === 'quiet') {
    if (t >= r.startedAt + 2 * HOUR + extended) out.push('runtime');
    if (t >= Math.max((r.lastProgressAt ?? r.startedAt) + 20 * MIN, grace)) out.push('stall');
  } else {
    if (t >= r.startedAt + 3 * HOUR + extended) out.push('runtime');
    if (r.cost !== undefined && r.cost >= 50) out.push('cost');
  }
  return out;
}

function config(): WatchdogConfig {
  return compileConfig({
    settings: {
      shards: 2,
      maxCancelsPerSweep: 1000,
      leaseDuration: '2m',
      confirmWithin: '5m',
      maxCancelAttempts: 4,
      // No fleet hold: the model has no webhook whose faults would justify one.
      heartbeatHoldMinRuns: 1000,
      probeEvery: '0',
      repairEvery: '0',
    },
    connections: Object.fromEntries(PLATFORMS.map((p) => [`${p}-c`, { provider: p, baseUrl: servers.sims[p].url, secret: `key-${p}` }])),
    notify: { chat: { type: 'slack', channel: '#oncall', tokenSecret: 'slack-bot', apiUrl: servers.slack.apiUrl } },
    policies: [
      { name: 'live', maxRuntime: '1h', stallAfter: '20m', heartbeatTimeout: '10m', maxExtension: '2h', notify: ['chat'] },
      // No heartbeats expected: progress comes from the platform's status (and heartbeats when sent).
      { name: 'quiet', maxRuntime: '2h', stallAfter: '20m', maxExtension: '2h' },
      { name: 'costly', maxRuntime: '3h', maxCostUsd: 50, maxExtension: '2h' },
    ],
    defaultPolicy: 'live',
  });
}

// ---- the system under test ------------------------------------------------------------

interface Real {
  clock: Clock;
  a: Runtime;
  b: Runtime;
  /** Holders that die after their claim: before any provider call, or after the call and before writing its outcome. */
  deadBefore: Runtime;
  deadAfter: Runtime;
  config: WatchdogConfig;
  ids: Map<string, string>;
  /** What happened, for the failure report. */
  trail: string[];
}

async function freshReal(): Promise<Real> {
  const clock = new Clock(T0);
  const cfg = config();
  const tableName = `m${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  // One attempt of 100 ms per provider call: a fault is one outcome, and a hang is quick.
  const http = { timeoutMs: 100, attempts: 1 };
  const mk = (holder: string, providers?: ProviderLookup) =>
    buildRuntime(cfg, { client, tableName, secrets: memorySecrets(servers), now: clock.now, holder, http, ...(providers ? { providers } : {}) });
  const a = mk('sweep-a');
  for (const p of PLATFORMS) {
    const s = servers.sims[p];
    s.executions.clear();
    s.cancelCalls.clear();
    s.faults = {};
  }
  servers.slack.posts.length = 0;
  return {
    clock,
    a,
    b: mk('sweep-b'),
    deadBefore: mk('sweep-dead-1', dying(a.providers, false)),
    deadAfter: mk('sweep-dead-2', dying(a.providers, true)),
    config: cfg,
    ids: new Map(),
    trail: [],
  };
}

const sim = (r: RunModel) => servers.sims[r.platform];
const simRun = (r: RunModel) => sim(r).executions.get(r.key);
const pick = (m: Model, i: number) => m.runs[i % m.runs.length]!;
const ref = (r: RunModel) => `${r.platform}-c/${r.key}`;

async function stored(real: Real, r: RunModel): Promise<Execution> {
  const e = await real.a.store.get(real.ids.get(r.key)!);
  if (!e) throw new Error(`${r.key}: lost from the store`);
  return e;
}

/** Run a call the watchdog may refuse (409, 400): refused calls change nothing in the model. */
async function accepted(f: () => Promise<unknown>): Promise<boolean> {
  try {
    await f();
    return true;
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'ConflictError' || name === 'InputError') return false;
    throw err;
  }
}

/** The invariants, after every step. `decisionAt`: the step could have made a policy decision at this time. */
async function check(m: Model, real: Real, decisionAt?: number): Promise<void> {
  for (const r of m.runs) {
    const found = await real.a.store.getWithEvents(real.ids.get(r.key)!);
    if (!found) throw new Error(`${r.key}: lost from the store`);
    const { execution: e, events } = found;
    const s = simRun(r)!;
    const calls = sim(r).cancelCalls.get(r.key) ?? 0;
    const where = `${r.key} (${r.platform}, ${r.policy}, wd ${e.state}, platform ${s.state}, ${calls} cancel call(s))`;

    expect(calls, `${where}: at most ${MAX_CANCEL_CALLS[r.platform]} cancel request(s)`).toBeLessThanOrEqual(MAX_CANCEL_CALLS[r.platform]);
    if (e.state === 'cancelled') expect(s.state, `${where}: recorded as cancelled, but the platform says`).toBe('cancelled');

    if (!r.policyDecision && !r.personCancel && e.requestedBy?.id.startsWith('policy:')) {
      r.policyDecision = true;
      const t = decisionAt ?? m.now;
      const why = breached(r, t);
      expect(why, `${where}: cancelled by policy (${e.stopReasons?.join(', ')}) at +${(t - T0) / MIN}m while every limit is honoured`).not.toHaveLength(0);
    }
    if (calls > 0) expect(r.personCancel || r.policyDecision, `${where}: a cancel request nobody decided`).toBe(true);

    // Every state change has its event: the audit chains from `running` to the state now.
    expect(events[0]?.to, `${where}: first event`).toBe('running');
    for (let i = 1; i < events.length; i++) {
      const ev = events[i]!;
      if (ev.from !== undefined) expect(ev.from, `${where}: event ${ev.version} "${ev.what}" starts where the previous one ended`).toBe(events[i - 1]!.to);
    }
    expect(events.at(-1)?.to, `${where}: the last event ends in the state`).toBe(e.state);

    if (r.terminal !== undefined) expect(e.state, `${where}: a terminal state changed`).toBe(r.terminal);
    else if (isTerminal(e.state)) r.terminal = e.state;
  }
}

/** After a sweep at `t`: a run breached at `t` is no longer running or warned. */
async function checkEnforced(m: Model, real: Real, t: number): Promise<void> {
  for (const r of m.runs) {
    const e = await stored(real, r);
    const why = breached(r, t);
    if (why.length > 0 && (e.state === 'running' || e.state === 'warned'))
      throw new Error(`${r.key} (${r.platform}, ${r.policy}): breached (${why.join(', ')}) at +${(t - T0) / MIN}m, still ${e.state} after the sweep`);
  }
}

// ---- the commands -----------------------------------------------------------------------

type Cmd = fc.AsyncCommand<Model, Real>;

function cmd(label: string, run: (m: Model, real: Real) => Promise<void>, needsRun = true): Cmd {
  return {
    check: (m) => !needsRun || m.runs.length > 0,
    run: async (m, real) => {
      real.trail.push(`+${(m.now - T0) / MIN}m ${label}`);
      await run(m, real);
    },
    toString: () => label,
  };
}

const track = (platform: Platform, policy: PolicyName, agoMin: number): Cmd => ({
  check: (m) => m.runs.length < MAX_RUNS,
  run: async (m, real) => {
    const key = `r${m.runs.length}`;
    real.trail.push(`+${(m.now - T0) / MIN}m track ${key}`);
    const startedAt = m.now - agoMin * MIN;
    servers.sims[platform].add({ id: key, state: 'running', startedAt: Date.now(), done: 0, total: 100 });
    const { execution } = await real.a.watchdog.track({ connection: `${platform}-c`, externalId: key, policy, startedAt }, tracker);
    real.ids.set(key, execution.id);
    m.runs.push({ key, platform, policy, startedAt, extensions: [], progress: 0, personCancel: false, policyDecision: false });
    await check(m, real);
  },
  toString: () => `track(${platform}, ${policy}, ${agoMin}m ago)`,
});

type Progress = 'none' | 'same' | 'new';
const heartbeat = (i: number, progress: Progress, cost: number | undefined, enforce: boolean): Cmd =>
  cmd(`heartbeat(#${i}, progress ${progress}${cost !== undefined ? `, $${cost}` : ''}${enforce ? ', enforce' : ''})`, async (m, real) => {
    const r = pick(m, i);
    const done = progress === 'new' ? r.progress + 1 : r.progress;
    const body = { ...(progress !== 'none' ? { progress: { done, total: 100 } } : {}), ...(cost !== undefined ? { costUsd: cost } : {}) };
    if (await accepted(() => real.a.watchdog.heartbeat(ref(r), body))) {
      r.lastHeartbeatAt = m.now;
      if (done > r.progress) r.lastProgressAt = m.now;
      r.progress = done;
      const s = simRun(r)!;
      if (s.state === 'running') s.done = done; // the platform shows the same progress
      if (cost !== undefined) r.cost = Math.max(cost, r.cost ?? 0);
    }
    // The tracking API enforces a breach a heartbeat reports at once (routes/tracking.ts).
    if (enforce) await real.a.watchdog.enforceNow(real.ids.get(r.key)!);
    await check(m, real, m.now);
  });

const extend = (i: number, minutes: number): Cmd =>
  cmd(`extend(#${i}, ${minutes}m)`, async (m, real) => {
    const r = pick(m, i);
    if (await accepted(() => real.a.watchdog.extend(ref(r), `${minutes}m`, person))) r.extensions.push({ at: m.now, ms: minutes * MIN });
    await check(m, real);
  });

const snooze = (i: number): Cmd =>
  cmd(`snooze(#${i})`, async (m, real) => {
    await accepted(() => real.a.watchdog.snooze(ref(pick(m, i)), '30m', person));
    await check(m, real);
  });

const finishByTracker = (i: number): Cmd =>
  cmd(`finishByTracker(#${i})`, async (m, real) => {
    const r = pick(m, i);
    const s = simRun(r)!;
    if (s.state === 'running') s.state = 'succeeded';
    await accepted(() => real.a.watchdog.finish(ref(r), tracker, 'SUCCEEDED'));
    await check(m, real);
  });

const finishOnPlatform = (i: number): Cmd =>
  cmd(`finishOnPlatform(#${i})`, async (m, real) => {
    const s = simRun(pick(m, i))!;
    if (s.state === 'running') s.state = 'succeeded';
    await check(m, real);
  });

const personCancel = (i: number, now: boolean): Cmd =>
  cmd(`personCancel(#${i}${now ? ', now' : ', recorded'})`, async (m, real) => {
    const r = pick(m, i);
    const id = real.ids.get(r.key)!;
    if (now) {
      const out = await real.a.watchdog.cancelNow(id, person, 'manual', 5_000);
      if ('status' in out) {
        if (!r.policyDecision) r.personCancel = true;
        await out.settled;
      }
    } else {
      const out = await real.a.watchdog.requestCancel(id, person, 'manual');
      if (out.ok && !r.policyDecision) r.personCancel = true;
    }
    await check(m, real);
  });

const sweep = (who: 'a' | 'b' | 'both'): Cmd =>
  cmd(
    `sweep(${who})`,
    async (m, real) => {
      const holders = who === 'both' ? [real.a, real.b] : [who === 'a' ? real.a : real.b];
      await Promise.all(holders.map((h) => h.sweeper.run()));
      await check(m, real, m.now);
      await checkEnforced(m, real, m.now);
    },
    false,
  );

const advance = (ms: number): Cmd =>
  cmd(
    `advance(${ms >= MIN ? `${ms / MIN}m` : `${ms / SEC}s`})`,
    async (m, real) => {
      m.now += ms;
      real.clock.advance(ms);
    },
    false,
  );

type FaultKind = 'none' | '429' | '503' | 'hang' | 'landed';
const fault = (platform: Platform, kind: FaultKind): Cmd =>
  cmd(
    `fault(${platform}, ${kind})`,
    async () => {
      const s = servers.sims[platform];
      s.faults =
        kind === '429'
          ? { rateLimitNext: 2, retryAfterSec: 1 }
          : kind === '503'
            ? { errorRate: 1 }
            : kind === 'hang'
              ? { hang: true }
              : // Answered after the client gave up: the request did land.
                kind === 'landed'
                ? { latencyMs: 250 }
                : {};
    },
    false,
  );

/** A holder dies: the real protocol (its claim written), then no provider call, or no write after the call. */
class Crash extends Error {
  override name = 'Crash';
}
function dying(lookup: ProviderLookup, afterCall: boolean): ProviderLookup {
  return {
    forConnection: (connection) => {
      const a = lookup.forConnection(connection);
      if (!('cancel' in a)) return a;
      return Object.assign(Object.create(a) as typeof a, {
        status: async (id: string) => {
          if (!afterCall) throw new Crash('died before its call');
          return a.status(id);
        },
        cancel: async (id: string) => {
          if (!afterCall) throw new Crash('died before its call');
          await a.cancel(id);
          throw new Crash('died after its call');
        },
      });
    },
  };
}

/** A holder takes what the protocol lets it take now (a decision, a requested cancel, an expired claim), then dies. */
const crash = (i: number, afterCall: boolean): Cmd =>
  cmd(`crash(#${i}${afterCall ? ', after its call' : ', before its call'})`, async (m, real) => {
    const r = pick(m, i);
    const e = await stored(real, r);
    const dead = afterCall ? real.deadAfter : real.deadBefore;
    const tally = new Tally(emptySummary(dead.sweeper.holder, m.now, false));
    try {
      if (e.state === 'cancelling') await dead.sweeper.cancels.recover(e, tally);
      else if (!isTerminal(e.state)) await dead.sweeper.cancels.claimAndCancel(e, tally, { reasons: e.stopReasons ?? ['manual'] });
    } catch (err) {
      if (!(err instanceof Crash)) throw err;
    }
    await check(m, real, m.now);
  });

const settleKodexa = (i: number): Cmd =>
  cmd(`settleKodexa(#${i})`, async (m, real) => {
    const s = simRun(pick(m, i))!;
    if (s.state === 'cancelling') s.cancelledAt = 0;
    await check(m, real);
  });

const idx = fc.nat({ max: MAX_RUNS - 1 });
const trackCmd = fc
  .record({ p: fc.constantFrom(...PLATFORMS), pol: fc.constantFrom<PolicyName>('live', 'quiet', 'costly'), ago: fc.constantFrom(0, 5, 30) })
  .map((x) => track(x.p, x.pol, x.ago));
const heartbeatCmd = fc
  .record({
    i: idx,
    progress: fc.constantFrom<Progress>('none', 'none', 'same', 'new'),
    cost: fc.option(fc.constantFrom(10, 40, 60), { nil: undefined }),
    enforce: fc.boolean(),
  })
  .map((x) => heartbeat(x.i, x.progress, x.cost, x.enforce));
const sweepCmd = fc.constantFrom<'a' | 'b' | 'both'>('a', 'b', 'both', 'both', 'both', 'both').map(sweep);
const advanceCmd = fc.constantFrom(20 * SEC, MIN, 3 * MIN, 6 * MIN, 11 * MIN).map(advance);
const crashCmd = fc.record({ i: idx, after: fc.boolean() }).map((x) => crash(x.i, x.after));
/** Weighted by repetition: time, sweeps, heartbeats and crashes are what make the races. */
const commands = [
  trackCmd,
  heartbeatCmd,
  heartbeatCmd,
  fc.record({ i: idx, min: fc.constantFrom(15, 30, 60) }).map((x) => extend(x.i, x.min)),
  idx.map(snooze),
  idx.map(finishByTracker),
  idx.map(finishOnPlatform),
  fc.record({ i: idx, now: fc.boolean() }).map((x) => personCancel(x.i, x.now)),
  sweepCmd,
  sweepCmd,
  sweepCmd,
  advanceCmd,
  advanceCmd,
  advanceCmd,
  fc.record({ p: fc.constantFrom(...PLATFORMS), k: fc.constantFrom<FaultKind>('none', 'none', '429', '503', 'hang', 'landed') }).map((x) => fault(x.p, x.k)),
  crashCmd,
  crashCmd,
  idx.map(settleKodexa),
];

/** Faults stop, Kodexa settles its cancels, sweeps go on: every run ends terminal within QUIESCE_ROUNDS sweeps. */
async function quiesce(m: Model, real: Real): Promise<void> {
  for (const p of PLATFORMS) servers.sims[p].faults = {};
  for (let round = 0; round < QUIESCE_ROUNDS; round++) {
    const live = [];
    for (const r of m.runs) if (!isTerminal((await stored(real, r)).state)) live.push(r);
    if (live.length === 0) return;
    m.now += 11 * MIN;
    real.clock.advance(11 * MIN);
    for (const r of live) {
      const s = simRun(r)!;
      if (s.state === 'cancelling') s.cancelledAt = 0;
    }
    real.trail.push(`+${(m.now - T0) / MIN}m quiesce sweep ${round + 1}`);
    await Promise.all([real.a.sweeper.run(), real.b.sweeper.run()]);
    await check(m, real, m.now);
    await checkEnforced(m, real, m.now);
  }
  const left = [];
  for (const r of m.runs) {
    const e = await stored(real, r);
    if (!isTerminal(e.state)) left.push(`${r.key}: ${e.state}`);
  }
  expect(left, `not terminal after ${QUIESCE_ROUNDS} sweeps without faults`).toEqual([]);
}

/** A small PRNG for Math.random (retry jitter), seeded per run, so a seed replays the same delays. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** MODEL_STATS=1: what the runs did (to see that the generators reach the interesting states). */
const seen = { steps: 0, runs: 0, states: new Map<string, number>(), cancelCalls: 0 };
function stats(m: Model, real: Real): void {
  seen.steps += real.trail.length;
  seen.runs += m.runs.length;
  for (const r of m.runs) {
    seen.states.set(r.terminal ?? '?', (seen.states.get(r.terminal ?? '?') ?? 0) + 1);
    seen.cancelCalls += sim(r).cancelCalls.get(r.key) ?? 0;
  }
}
afterAll(() => {
  if (process.env.MODEL_STATS) console.log(JSON.stringify({ ...seen, states: Object.fromEntries(seen.states) }));
});

const RUNS = Number(process.env.MODEL_RUNS ?? 300);

/** One sequence against a fresh store: the commands, then quiescence. */
async function runSequence(cmds: Iterable<Cmd>, jitterSeed: number): Promise<void> {
  const random = vi.spyOn(Math, 'random').mockImplementation(mulberry32(jitterSeed));
  const real = await freshReal();
  const model: Model = { now: T0, runs: [] };
  try {
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    await quiesce(model, real);
    if (process.env.MODEL_STATS) stats(model, real);
  } catch (err) {
    (err as Error).message += `\n  trail:\n    ${real.trail.join('\n    ')}`;
    throw err;
  } finally {
    random.mockRestore();
  }
}

describe('the cancel protocol against a reference model (dynalite, simulators)', () => {
  it('bugs the model found, replayed as fixed sequences', async () => {
    // A first heartbeat reporting 0 done restarted the stall clock of a run stalled since it started.
    await runSequence([track('catalyzed', 'live', 30), heartbeat(0, 'same', undefined, false), sweep('a')], 1);
    // A holder died right after re-sending an unconfirmed Kodexa cancel: the next one sent it a third time.
    await runSequence([track('kodexa', 'live', 30), sweep('a'), advance(6 * MIN), crash(0, true), advance(6 * MIN), sweep('a')], 1);
  });

  it(`${RUNS} random interleavings of trackers, people, platforms, faults and concurrent sweeps keep every invariant`, async () => {
    const started = Date.now();
    let firstFailureAt: number | undefined;
    const property = fc.asyncProperty(fc.integer(), fc.commands(commands, { maxCommands: 50, size: 'max' }), async (jitterSeed, cmds) => {
      try {
        await runSequence(cmds, jitterSeed);
      } catch (err) {
        firstFailureAt ??= Date.now();
        throw err;
      }
    });
    const seed = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED);
    const out = await fc.check(property, {
      numRuns: RUNS,
      ...(seed !== undefined ? { seed } : {}),
      ...(process.env.MODEL_PATH ? { path: process.env.MODEL_PATH } : {}),
      endOnFailure: process.env.MODEL_SHRINK === '0',
    });
    // One JSON line for `npm run model` and the planted-bug runner (bench/planted.ts).
    console.log(
      JSON.stringify({
        name: 'protocol_model',
        failed: out.failed,
        runs: out.numRuns,
        seed: out.seed,
        ...(out.failed ? { path: out.counterexamplePath, shrinks: out.numShrinks, firstFailureMs: (firstFailureAt ?? Date.now()) - started } : {}),
        ms: Date.now() - started,
      }),
    );
    if (out.failed) {
      const cmdsShown = out.counterexample ? (out.counterexample[1] as { toString(): string }).toString() : '';
      throw new Error(
        `protocol model failed after ${out.numRuns} run(s) (seed ${out.seed}, path ${out.counterexamplePath}; replay: MODEL_SEED=${out.seed} MODEL_PATH=${out.counterexamplePath})\n` +
          `  shrunk commands: ${cmdsShown}\n  ${String((out.errorInstance as Error | undefined)?.message ?? out.errorInstance)}`,
      );
    }
  }, 600_000);
});
