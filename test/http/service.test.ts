/**
 * The application service (src/app/service.ts) on its own, on dynalite and the simulators:
 * who may act, what an id may be, what a track refuses and keeps, the words of each refusal,
 * a person's cancel within its budget, a follow-up carrying a requested cancel out, and the
 * tracking API's immediate enforcement.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CancelProtocol } from '../../src/app/cancel.js';
import { Watchdog, authorize } from '../../src/app/service.js';
import { Sweeper } from '../../src/app/sweep.js';
import { contextFor } from '../../src/app/context.js';
import { claimCancel } from '../../src/core/transitions.js';
import type { ExecutionStore } from '../../src/store/types.js';
import { compileConfig } from '../../src/config/load.js';
import { executionId } from '../../src/core/ids.js';
import { ConflictError, InputError, NotFoundError } from '../../src/errors.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import type { Runtime } from '../../src/runtime.js';
import { HOUR, MIN } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
let client: DynamoDBClient | undefined;
let rt: Runtime;
let clock: Clock;
beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynalite(), startServers({ kodexaCancelMs: 1e9 })]);
  clock = new Clock(Date.now());
  const config = worldConfig(servers, {
    settings: { probeEvery: '0' },
    policies: [
      { name: 'strict', maxRuntime: '1h', stallAfter: '20m', heartbeatTimeout: '10m', maxCostUsd: 50 },
      { name: 'preview', maxRuntime: '1h', mode: 'dry-run', match: { labels: { mode: 'preview' } } },
      { name: 'tight', maxRuntime: '10m', match: { labels: { team: 'tight' } } },
      { name: 'asking', maxRuntime: '1h', maxCostUsd: 50, onBreach: 'approve', hardMaxCostUsd: 100, match: { labels: { mode: 'ask' } } },
    ],
  });
  const w = await freshRuntime(engine, undefined, config, servers, clock);
  client = w.client;
  rt = w.rt;
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});

const tracker = { id: 'tracker', via: 'api' };
const person = { id: 'slack:U1', via: 'slack' };
let n = 0;
const run = async (body: Record<string, unknown> = {}, platform: 'catalyzed' | 'kodexa' = 'catalyzed') => {
  const externalId = `svc-${++n}`;
  servers.sims[platform].add({ id: externalId, startedAt: clock.t });
  return (await rt.watchdog.track({ connection: `${platform}-c`, externalId, ...body }, tracker)).execution;
};
const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a refusal');
};

describe('who may act and see (authorize)', () => {
  const p = compileConfig({
    connections: { c: { provider: 'catalyzed', secret: 's' } },
    policies: [{ name: 'default', maxRuntime: '1h', allow: { users: ['UA'], channels: ['CA'] }, view: { users: ['UV'], channels: ['CV'] } }],
  }).policies[0]!;
  it.each([
    [{ tool: 'slack', userId: 'UA' }, 'act', true],
    [{ tool: 'slack', userId: 'UX', channelId: 'CA' }, 'act', true],
    [{ tool: 'slack', userId: 'UX' }, 'act', false],
    [{ tool: 'slack', userId: 'UV' }, 'act', false],
    [{ tool: 'slack', userId: 'UV' }, 'view', true],
    [{ tool: 'slack', userId: 'UX', channelId: 'CV' }, 'view', true],
    [{ tool: 'slack', userId: 'UX', channelId: 'CV' }, 'act', false],
    [{ tool: 'slack', userId: 'UX', channelId: 'CX' }, 'view', false],
    [{ tool: 'hook', userId: 'operator' }, 'act', true],
  ] as const)('%j may %s: %s', (who, right, ok) => {
    expect(authorize(who, right, p)).toBe(ok);
  });
});

describe('ids', () => {
  it('a wd_ id passes; <connection>/<externalId> is hashed; anything else is refused with what is expected', () => {
    expect(rt.watchdog.resolveId('wd_abcdefghijkl')).toBe('wd_abcdefghijkl');
    expect(rt.watchdog.resolveId('catalyzed-c/run/with/slashes')).toBe(executionId('catalyzed-c', 'run/with/slashes'));
    for (const bad of ['xwd_abcdefghijkl', 'wd_abcdefghijkl9', 'nope/run-1', '/run-1', 'run-1'])
      expect(() => rt.watchdog.resolveId(bad), bad).toThrow(`"${bad}" is not an execution id: expected wd_… or <connection>/<externalId>`);
  });
});

describe('track', () => {
  it('keeps the tighter limits, labels, owner and an ISO start; a policy named explicitly', async () => {
    const started = new Date(clock.t - 5 * MIN).toISOString();
    const e = await run({
      labels: { team: 'ml' },
      owner: 'ana',
      startedAt: started,
      policy: 'strict',
      limits: { maxRuntime: '30m', stallAfter: '5m', heartbeatTimeout: '2m', maxCostUsd: 10 },
    });
    expect(e).toMatchObject({
      policy: 'strict',
      labels: { team: 'ml' },
      owner: 'ana',
      startedAt: Date.parse(started),
      limits: { maxRuntimeMs: 30 * MIN, stallAfterMs: 5 * MIN, heartbeatTimeoutMs: 2 * MIN, maxCostUsd: 10 },
    });
  });

  it('refuses, naming the reason: an unknown connection (listing those in scope), a looser limit, an unknown policy, a bad body', async () => {
    expect((await refusal(rt.watchdog.track({ connection: 'nope', externalId: 'x' }, tracker))).message).toMatch(
      /^unknown connection "nope"; expected one of catalyzed-c, kodexa-c, ionworks-c, superglue-c, meibel-c$/,
    );
    const scoped = { connections: new Set(['kodexa-c']) };
    expect((await refusal(rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'x' }, tracker, scoped))).message).toBe(
      'unknown connection "catalyzed-c"; expected one of kodexa-c',
    );
    const labelled = { connections: new Set(['kodexa-c']), labels: { team: 'ml', env: 'prod' } };
    expect((await refusal(rt.watchdog.track({ connection: 'kodexa-c', externalId: 'x', labels: { team: 'ml' } }, tracker, labelled))).message).toBe(
      'this key tracks only executions labelled team=ml, env=prod',
    );
    for (const [limits, what] of [
      [{ stallAfter: '1h' }, 'stallAfter 1h is looser'],
      [{ heartbeatTimeout: '1h' }, 'heartbeatTimeout 1h is looser'],
      [{ maxCostUsd: 51 }, 'maxCostUsd $51 is looser'],
    ] as const) {
      const err = await refusal(rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'x', policy: 'strict', limits }, tracker));
      expect(err).toBeInstanceOf(InputError);
      expect(err.message).toMatch(new RegExp(`^limits rejected: ${what.replace('$', '\\$')}`));
    }
    const unknown = await refusal(rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'x', policy: 'nope' }, tracker));
    expect(unknown).toBeInstanceOf(InputError);
    expect(unknown.message).toMatch(/unknown policy "nope"/);
    expect((await refusal(rt.watchdog.track({ connection: 'catalyzed-c' }, tracker))).message).toMatch(/^invalid track request: externalId/);
    expect(await rt.store.get(executionId('catalyzed-c', 'x'))).toBeUndefined();
  });
});

describe('the words of a refusal', () => {
  it('ended (and by whom), in progress, a bad duration, not tracked', async () => {
    const done = await run();
    await rt.watchdog.finish(done.id, tracker);
    const ended = await refusal(rt.watchdog.finish(done.id, tracker));
    expect(ended).toBeInstanceOf(ConflictError);
    expect(ended).toMatchObject({ code: 'execution_ended', message: `finish refused: execution ${done.id} is already finished` });
    const stopped = await run();
    const r = await rt.watchdog.cancelNow(stopped.id, person, 'by hand');
    if ('settled' in r) await r.settled;
    expect((await refusal(rt.watchdog.extend(stopped.id, '10m', person))).message).toBe(
      `extend refused: execution ${stopped.id} is already cancelled (by slack:U1: manual)`,
    );
    const busy = await run({}, 'kodexa'); // Kodexa accepts, then never finishes cancelling here
    const accepted = await rt.watchdog.cancelNow(busy.id, person, undefined);
    if ('settled' in accepted) await accepted.settled;
    const inProgress = await refusal(rt.watchdog.extend(busy.id, '10m', person));
    expect(inProgress).toMatchObject({ code: 'cancel_in_progress', message: `extend refused: a cancel of ${busy.id} is already in progress` });
    expect((await refusal(rt.watchdog.extend(busy.id, 'soon', person))).message).toBe('expected a duration like "30m", got "soon"');
    expect((await refusal(rt.watchdog.snooze(busy.id, 'later', person))).message).toBe('expected a duration like "1h", got "later"');
    const missing = await refusal(rt.watchdog.snooze('wd_000000000000', '1h', person));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.message).toBe('no tracked execution wd_000000000000');
    const live = await run();
    const snoozed = await rt.watchdog.snooze(live.id, '30m', person);
    expect(snoozed.snoozedUntil).toBe(clock.t + 30 * MIN);
  });
});

describe("a person's cancel and its follow-up", () => {
  it('cancelNow: done within the budget when the provider answers; refused when already ended', async () => {
    const e = await run();
    const r = await rt.watchdog.cancelNow(e.id, person, 'too long');
    expect(r).toMatchObject({ status: 'done', execution: { state: 'cancelled', requestedBy: person } });
    expect(await rt.watchdog.cancelNow(e.id, person, undefined)).toMatchObject({ ok: false, outcome: 'terminal' });
  });

  it('cancelNow: in progress when the provider is slower than the budget; settled later', async () => {
    const e = await run();
    servers.sims.catalyzed.faults = { latencyMs: 400 };
    try {
      const r = await rt.watchdog.cancelNow(e.id, person, undefined, 100);
      expect(r).toMatchObject({ status: 'in_progress', execution: { state: 'cancel_requested' } });
      if (!('settled' in r)) throw new Error('refused');
      expect((await r.settled).state).toBe('cancelled');
    } finally {
      servers.sims.catalyzed.faults = {};
    }
  });

  it('carryOutCancel: a requested cancel is carried out; an accepted one returns at once; an ended one as it is; a claim held by another is waited on', async () => {
    const requested = await run();
    await rt.watchdog.requestCancel(requested.id, person, 'later');
    expect((await rt.watchdog.carryOutCancel(requested.id, 5_000))?.state).toBe('cancelled');
    expect((await rt.watchdog.carryOutCancel(requested.id, 5_000))?.state).toBe('cancelled');
    const slow = await run({}, 'kodexa');
    await rt.watchdog.requestCancel(slow.id, person, undefined);
    const t0 = Date.now();
    expect(await rt.watchdog.carryOutCancel(slow.id, 5_000)).toMatchObject({ state: 'cancelling', cancelAcceptedAt: expect.any(Number) });
    expect(Date.now() - t0).toBeLessThan(4_000);
    // Accepted by Kodexa and now someone else's to confirm: waited on until the time is up.
    const t1 = Date.now();
    expect((await rt.watchdog.carryOutCancel(slow.id, 600))?.state).toBe('cancelling');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(600);
    expect(await rt.watchdog.carryOutCancel('wd_000000000000', 100)).toBeUndefined();
  });

  it('awaitOutcome: remembered on a live run; an ended one is returned unchanged', async () => {
    const live = await run({}, 'kodexa');
    const reply = { to: 'slack' as const, url: 'https://hooks.slack.com/actions/T/1/x', until: clock.t + MIN };
    expect((await rt.watchdog.awaitOutcome(live.id, reply))?.replyTo).toEqual(reply);
    const ended = await run();
    await rt.watchdog.finish(ended.id, tracker);
    const back = await rt.watchdog.awaitOutcome(ended.id, reply);
    expect(back).toMatchObject({ state: 'finished' });
    expect(back?.replyTo).toBeUndefined();
    expect(await rt.watchdog.awaitOutcome('wd_000000000000', reply)).toBeUndefined();
  });
});

describe("the tracking API's immediate enforcement", () => {
  it('a reported cost past its limit is enforced now, with its breach time; lost heartbeats, dry-run and ended runs are left to the sweep', async () => {
    const costly = await run({ policy: 'strict' });
    await rt.watchdog.heartbeat(costly.id, { costUsd: 60 });
    const found = await rt.store.get(costly.id);
    expect(rt.watchdog.enforceableBreach(found!)).toEqual({ reasons: ['cost'], breachAt: clock.t });
    expect((await rt.watchdog.enforceNow(costly.id))?.state).toBe('cancelled');
    expect(rt.watchdog.enforceableBreach((await rt.store.get(costly.id))!)).toBeUndefined();
    const silent = await run({ policy: 'strict', startedAt: clock.t - 15 * MIN });
    expect(rt.watchdog.enforceableBreach(silent)).toBeUndefined();
    expect(rt.watchdog.enforceableBreach(silent, clock.t + 2 * HOUR)).toMatchObject({ reasons: expect.arrayContaining(['runtime', 'heartbeat']) });
    const dry = await run({ labels: { mode: 'preview' }, startedAt: clock.t - 2 * HOUR });
    expect(dry.policy).toBe('preview');
    expect(rt.watchdog.enforceableBreach(dry)).toBeUndefined();
    expect((await rt.watchdog.enforceNow(dry.id))?.state).toBe('running');
    expect(await rt.watchdog.enforceNow('wd_000000000000')).toBeUndefined();
    // A person's cancel already requested is the follow-up's to carry out, not this.
    const requested = await run({ policy: 'strict', startedAt: clock.t - 2 * HOUR });
    await rt.watchdog.requestCancel(requested.id, person, undefined);
    expect((await rt.watchdog.enforceNow(requested.id))?.state).toBe('cancel_requested');
    expect(servers.sims.catalyzed.cancelCalls.get(requested.externalId)).toBeUndefined();
  });
});

describe('list', () => {
  it('in tracking order, the earliest first; ties by id', async () => {
    const a = await run();
    clock.advance(1_000);
    const b = await run();
    const c = await run();
    const page = await rt.watchdog.list({ state: 'running', limit: 1000 });
    const ids = page.items.map((e) => e.id).filter((id) => [a.id, b.id, c.id].includes(id));
    expect(ids).toEqual([a.id, ...[b.id, c.id].sort()]);
  });
});

describe('the rest of the words and paths', () => {
  it('a start time with a UTC offset; every problem of a body named, each after a "; "', async () => {
    const e = await run({ startedAt: '2026-12-06T10:00:00+02:00' });
    expect(e.startedAt).toBe(Date.parse('2026-12-06T08:00:00Z'));
    const bad = await refusal(rt.watchdog.track({ connection: 'catalyzed-c', externalId: '', owner: 7 }, tracker));
    expect(bad.message).toMatch(/^invalid track request: externalId[^;]*; owner/);
    const loose = await refusal(
      rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'x', policy: 'strict', limits: { stallAfter: '1h', maxCostUsd: 51 } }, tracker),
    );
    expect(loose.message).toMatch(
      /^limits rejected: stallAfter 1h is looser .* allows \(20m\); per-execution limits may only tighten; maxCostUsd \$51 is looser/,
    );
    const long = 'n'.repeat(200);
    expect((await refusal(rt.watchdog.track({ connection: long, externalId: 'x' }, tracker))).message).toMatch(
      new RegExp(`^unknown connection "${'n'.repeat(80)}";`),
    );
  });

  it('a scoped key: with no policy named, the one the config matches (listed or not); a named one compared with the policy its labels match', async () => {
    const scope = { connections: new Set(['catalyzed-c']), policies: new Set(['preview', 'tight']) };
    const plain = (await rt.watchdog.track({ connection: 'catalyzed-c', externalId: `svc-${++n}` }, tracker, scope)).execution;
    expect(plain.policy).toBe('strict');
    const listed = await refusal(rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'x', policy: 'strict' }, tracker, scope));
    expect(listed.message).toBe('policy "strict" is not one this key may name; expected one of preview, tight');
    const unlisted = { connections: new Set(['catalyzed-c']) };
    const looser = await refusal(
      rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'x', policy: 'strict', labels: { team: 'tight' } }, tracker, unlisted),
    );
    expect(looser.message).toMatch(/^policy "strict" is looser than "tight", the policy for this run/);
    expect(
      (await rt.watchdog.track({ connection: 'catalyzed-c', externalId: `svc-${++n}`, policy: 'tight', labels: { team: 'tight' } }, tracker, unlisted))
        .execution.policy,
    ).toBe('tight');
  });

  it("a key's changes reach only what it may see: another's execution reads as not tracked, and is left unchanged", async () => {
    const theirs = await run({ labels: { team: 'other' } });
    const mine = { connections: new Set(['catalyzed-c']), labels: { team: 'ml' } };
    for (const change of [() => rt.watchdog.heartbeat(theirs.id, {}, mine), () => rt.watchdog.finish(theirs.id, tracker, undefined, mine)]) {
      const err = await refusal(change());
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.message).toBe(`no tracked execution ${theirs.id}`);
    }
    expect(await rt.store.get(theirs.id)).toMatchObject({ state: 'running', version: theirs.version });
  });

  it('keep and snooze: a bad duration is refused; on an ended run, each refusal names what was refused and who ended it (a finished run: nobody)', async () => {
    const e = await run();
    expect((await refusal(rt.watchdog.keep(e.id, 'forever', person))).message).toBe('expected a duration like "1h", got "forever"');
    await rt.watchdog.requestCancel(e.id, { id: 'policy:strict', via: 'sweep' }, undefined);
    // The platform finished it first: finished, though a cancel was asked for.
    servers.sims.catalyzed.executions.get(e.externalId)!.state = 'succeeded';
    expect((await rt.watchdog.carryOutCancel(e.id, 1_000))?.state).toBe('finished');
    expect((await refusal(rt.watchdog.keep(e.id, '1h', person))).message).toBe(`keep refused: execution ${e.id} is already finished`);
    expect((await refusal(rt.watchdog.snooze(e.id, '1h', person))).message).toBe(`snooze refused: execution ${e.id} is already finished`);
    const both = await run({ policy: 'strict' });
    await rt.watchdog.heartbeat(both.id, { costUsd: 60 });
    clock.advance(2 * HOUR);
    try {
      await rt.watchdog.enforceNow(both.id);
    } finally {
      clock.advance(-2 * HOUR);
    }
    expect((await refusal(rt.watchdog.extend(both.id, '1h', person))).message).toBe(
      `extend refused: execution ${both.id} is already cancelled (by policy:strict: runtime, stall, heartbeat, cost)`,
    );
  });

  it('a cancel asked for with no reason says "manual cancel"', async () => {
    const e = await run();
    await rt.watchdog.requestCancel(e.id, person, undefined);
    const { events } = await rt.watchdog.show(e.id);
    expect(events.at(-1)).toMatchObject({ what: 'cancel requested', detail: 'manual cancel', actor: person });
  });

  it('explain: each refused write in the words a person reads', () => {
    const e = { id: 'wd_000000000001', state: 'running' } as never;
    const words = (out: unknown) => {
      try {
        rt.watchdog.explain('x', out as never, 'extend');
      } catch (err) {
        return { type: (err as Error).constructor.name, code: (err as { code?: string }).code, message: (err as Error).message };
      }
      throw new Error('explain returned');
    };
    expect(words({ ok: false, outcome: 'not_found' })).toMatchObject({ type: 'NotFoundError', message: 'no tracked execution x' });
    expect(words({ ok: false, outcome: 'lease_held', execution: e })).toMatchObject({ type: 'ConflictError', code: 'cancel_in_progress' });
    expect(words({ ok: false, outcome: 'not_claimable', execution: e })).toMatchObject({
      type: 'ConflictError',
      code: 'state_conflict',
      message: 'extend refused: execution x is running (not_claimable)',
    });
  });

  it("carryOutCancel: backing off (a retry not yet due) is not claimed; a retry returns at once; a dead holder's claim is left to the sweep", async () => {
    // A retry not yet due: nothing sent, returned as it is when the wait is up.
    const waiting = await run();
    await rt.watchdog.requestCancel(waiting.id, person, undefined);
    await rt.store.mutate(waiting.id, (c) => ({ ok: true, execution: { ...c, nextAttemptAt: clock.t + MIN, version: c.version + 1 } }));
    expect(await rt.watchdog.carryOutCancel(waiting.id, 300)).toMatchObject({ state: 'cancel_requested' });
    expect(servers.sims.catalyzed.cancelCalls.get(waiting.externalId)).toBeUndefined();
    // The platform answers 503: a retry for the sweep, returned at once (no wait for a retry minutes away).
    const failing = await run();
    await rt.watchdog.requestCancel(failing.id, person, undefined);
    servers.sims.catalyzed.faults = { errorRate: 1 };
    const t0 = Date.now();
    try {
      expect(await rt.watchdog.carryOutCancel(failing.id, 10_000)).toMatchObject({ state: 'cancel_requested', attempts: 1 });
    } finally {
      servers.sims.catalyzed.faults = {};
    }
    expect(Date.now() - t0).toBeLessThan(5_000);
    // A claim whose holder died (lease expired): recovered by the sweep, status first — not sent from here.
    const dead = await run();
    await rt.watchdog.requestCancel(dead.id, person, undefined);
    await rt.store.mutate(dead.id, (c) => ({
      ok: true,
      execution: { ...c, state: 'cancelling', lease: { holder: 'dead', until: clock.t - 1 }, version: c.version + 1 },
    }));
    expect(await rt.watchdog.carryOutCancel(dead.id, 300)).toMatchObject({ state: 'cancelling', lease: { holder: 'dead' } });
    expect(servers.sims.catalyzed.cancelCalls.get(dead.externalId)).toBeUndefined();
  });

  it("a person's cancel whose protocol fails: logged, and left requested for the sweep", async () => {
    const e = await run();
    const logs: string[] = [];
    const log = { info() {}, warn() {}, error: (m: string) => void logs.push(m) };
    const broken = { claimAndCancel: () => Promise.reject(new Error('store down')) } as unknown as CancelProtocol;
    const w = new Watchdog(rt.config, rt.store, clock.now, broken, log);
    const r = await w.cancelNow(e.id, person, 'by hand');
    expect(r).toMatchObject({ status: 'in_progress', execution: { state: 'cancel_requested' } });
    expect(logs).toEqual(['manual cancel failed']);
  });

  it('immediate enforcement: a warned run too; under approval mode only the hard ceiling; without a cancel protocol, nothing (no error)', async () => {
    const warned = await run({ policy: 'strict' });
    await rt.store.mutate(warned.id, (c) => ({ ok: true, execution: { ...c, state: 'warned', version: c.version + 1 } }));
    await rt.watchdog.heartbeat(warned.id, { costUsd: 60 });
    const w = (await rt.store.get(warned.id))!;
    expect(w.state).toBe('warned');
    const breach = rt.watchdog.enforceableBreach(w);
    expect(breach).toEqual({ reasons: ['cost'], breachAt: clock.t });
    const asking = await run({ labels: { mode: 'ask' } });
    await rt.watchdog.heartbeat(asking.id, { costUsd: 60 });
    expect(rt.watchdog.enforceableBreach((await rt.store.get(asking.id))!)).toBeUndefined();
    await rt.watchdog.heartbeat(asking.id, { costUsd: 120 });
    expect(rt.watchdog.enforceableBreach((await rt.store.get(asking.id))!)).toMatchObject({ reasons: ['cost'] });
    const bare = new Watchdog(rt.config, rt.store, clock.now);
    expect(await bare.enforceNow(asking.id)).toMatchObject({ state: 'running' });
    expect((await rt.watchdog.enforceNow(warned.id))?.state).toBe('cancelled');
  });

  it('carryOutCancel: a retry due this very moment is carried out', async () => {
    const due = await run();
    await rt.watchdog.requestCancel(due.id, person, undefined);
    await rt.store.mutate(due.id, (c) => ({ ok: true, execution: { ...c, nextAttemptAt: clock.t, version: c.version + 1 } }));
    expect((await rt.watchdog.carryOutCancel(due.id, 300))?.state).toBe('cancelled');
    expect(servers.sims.catalyzed.cancelCalls.get(due.externalId)).toBe(1);
  });

  it('carryOutCancel: a claim another holder took first (a race lost) is waited on until it ends', async () => {
    const e = await run();
    await rt.watchdog.requestCancel(e.id, person, undefined);
    const ctx = contextFor(rt.config, clock.now);
    let stolen = false;
    // The other holder claims just before our claim is written, and records its cancel 300 ms later.
    const store = new Proxy(rt.store, {
      get(t, key) {
        if (key === 'mutate')
          return async (...args: Parameters<ExecutionStore['mutate']>) => {
            if (!stolen && args[0] === e.id) {
              stolen = true;
              await t.mutate(e.id, (c) => claimCancel(c, { holder: 'other', leaseMs: MIN, actor: { id: 'other', via: 'sweep' } }, ctx(c)));
              setTimeout(() => {
                void t.mutate(e.id, (c) => ({ ok: true, execution: { ...c, state: 'cancelled', endedAt: clock.t, version: c.version + 1 } }));
              }, 300);
            }
            return t.mutate(...args);
          };
        const v = Reflect.get(t, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const sweeper = new Sweeper({ config: rt.config, store, providers: rt.providers, notifiers: rt.notifiers, now: clock.now, holder: 'follow-up' });
    const w = new Watchdog(rt.config, rt.store, clock.now, sweeper.cancels);
    expect((await w.carryOutCancel(e.id, 5_000))?.state).toBe('cancelled');
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBeUndefined();
  });

  it('list: ties in tracking time by id, whatever order the store gives', async () => {
    const tied = [];
    for (let i = 0; i < 6; i++) tied.push((await run({ labels: { batch: 'tie-reversed' } })).id);
    const reversing = new Proxy(rt.store, {
      get(t, key) {
        if (key === 'list')
          return async (...args: Parameters<ExecutionStore['list']>) => {
            const page = await t.list(...args);
            return { ...page, items: [...page.items].sort((a, b) => (a.id < b.id ? 1 : -1)) };
          };
        const v = Reflect.get(t, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const page = await new Watchdog(rt.config, reversing, clock.now).list({ label: { key: 'batch', value: 'tie-reversed' }, limit: 1000 });
    expect(page.items.map((e) => e.id)).toEqual([...tied].sort());
  });

  it('list: ties in tracking time by id, whatever order the shards give', async () => {
    const tied = [];
    for (let i = 0; i < 12; i++) tied.push((await run({ labels: { batch: 'tie' } })).id);
    const page = await rt.watchdog.list({ label: { key: 'batch', value: 'tie' }, limit: 1000 });
    expect(page.items.map((e) => e.id)).toEqual([...tied].sort());
  });
});
