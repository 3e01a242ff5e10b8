/** Pure transitions added for the sweep: claims that re-decide, observations, dry-run, notices, snooze. */
import { describe, expect, it } from 'vitest';
import {
  NOTICE_MAX_ATTEMPTS,
  applyHeartbeat,
  claimCancel,
  decideAndClaim,
  observe,
  recordFault,
  recordOutcome,
  recordWouldCancel,
  requestCancel,
  extend,
  settleNotices,
  snooze,
  stateDueAt,
  withNotices,
} from '../../src/core/transitions.js';
import { toCancelResult } from '../../src/app/outcome.js';
import { HOUR, MIN, SEC, T0, execution, policy } from '../helpers/fixtures.js';

const actor = { id: 'test', via: 'test' };
const p = policy({ maxRuntimeMs: HOUR, stallAfterMs: 20 * MIN });
const ctx = (now: number, pol = p) => ({ now, policy: pol, retentionMs: 30 * 24 * HOUR });

describe('refusals name their one situation', () => {
  it("a cancel already under way (cancel_in_progress), another holder's lease (lease_held), a would-cancel recorded before (already_recorded)", () => {
    const requested = requestCancel(execution(), ['manual'], actor, ctx(T0));
    if (!requested.ok) throw new Error('request');
    expect(requestCancel(requested.execution, ['manual'], actor, ctx(T0 + SEC))).toMatchObject({ ok: false, outcome: 'cancel_in_progress' });
    const held = claimCancel(requested.execution, { holder: 'a', leaseMs: MIN, actor }, ctx(T0 + SEC));
    if (!held.ok) throw new Error('claim');
    expect(extend(held.execution, 10 * MIN, actor, ctx(T0 + 2 * SEC))).toMatchObject({ ok: false, outcome: 'cancel_in_progress' });
    expect(claimCancel(held.execution, { holder: 'b', leaseMs: MIN, actor }, ctx(T0 + 2 * SEC))).toMatchObject({ ok: false, outcome: 'lease_held' });
    const dry = { ...p, mode: 'dry-run' as const };
    const once = recordWouldCancel(execution(), actor, ctx(T0 + 2 * HOUR, dry));
    if (!once.ok) throw new Error('would cancel');
    expect(recordWouldCancel(once.execution, actor, ctx(T0 + 2 * HOUR + SEC, dry))).toMatchObject({ ok: false, outcome: 'already_recorded' });
  });
});

describe('decideAndClaim', () => {
  it('claims a breached execution with the reasons of the current item', () => {
    const r = decideAndClaim(execution(), { holder: 's1', leaseMs: 2 * MIN, actor }, ctx(T0 + HOUR));
    expect(r.ok && r.execution.state).toBe('cancelling');
    expect(r.ok && r.execution.stopReasons).toEqual(['runtime', 'stall']);
    expect(r.ok && r.execution.lease).toEqual({ holder: 's1', until: T0 + HOUR + 2 * MIN });
  });
  it('refuses when the current item no longer breaches (extended since the query)', () => {
    const extended = execution({ extensions: [{ ms: 30 * MIN, at: T0 + 59 * MIN, by: 'u' }], lastProgressAt: T0 + 55 * MIN });
    expect(decideAndClaim(extended, { holder: 's1', leaseMs: MIN, actor }, ctx(T0 + HOUR))).toMatchObject({ ok: false, outcome: 'not_claimable' });
  });
  it('never claims for a dry-run policy', () => {
    expect(decideAndClaim(execution(), { holder: 's1', leaseMs: MIN, actor }, ctx(T0 + HOUR, { ...p, mode: 'dry-run' }))).toMatchObject({
      ok: false,
      outcome: 'not_claimable',
    });
  });
  it('a valid lease held by another claimer wins; an expired one is recovered, a confirmation check keeps the attempt count', () => {
    const held = claimCancel(execution(), { holder: 'a', leaseMs: MIN, actor }, ctx(T0 + HOUR));
    if (!held.ok) throw new Error('claim');
    expect(claimCancel(held.execution, { holder: 'b', leaseMs: MIN, actor }, ctx(T0 + HOUR + SEC))).toMatchObject({ outcome: 'lease_held' });
    const recovered = claimCancel(held.execution, { holder: 'b', leaseMs: MIN, actor }, ctx(T0 + HOUR + 2 * MIN));
    expect(recovered.ok && recovered.execution.attempts).toBe(2);
    const pending = recordOutcome(held.execution, 'a', { kind: 'cancel_pending', checkAt: T0 + HOUR + 30 * SEC }, actor, ctx(T0 + HOUR));
    if (!pending.ok) throw new Error('pending');
    const check = claimCancel(pending.execution, { holder: 'b', leaseMs: MIN, actor }, ctx(T0 + HOUR + 31 * SEC));
    expect(check.ok && check.execution.attempts).toBe(1);
    expect(check.ok && check.execution.pendingEvent?.what).toBe('cancel confirmation check');
  });
});

describe('observe', () => {
  it('a first observation of 0 is not progress; a rise is; a fall is not', () => {
    const e = execution();
    const zero = observe(e, { raw: 'running', fraction: 0 }, ctx(T0 + MIN));
    expect(zero.ok && zero.execution.lastProgressAt).toBeUndefined();
    const up = observe(zero.ok ? zero.execution : e, { raw: 'running', fraction: 0.3, done: 3, total: 10 }, ctx(T0 + 2 * MIN));
    expect(up.ok && up.execution.lastProgressAt).toBe(T0 + 2 * MIN);
    expect(up.ok && up.execution.progress).toEqual({ done: 3, total: 10 });
    const down = observe(up.ok ? up.execution : e, { raw: 'running', fraction: 0.2 }, ctx(T0 + 3 * MIN));
    expect(down.ok && down.execution.lastProgressAt).toBe(T0 + 2 * MIN);
    expect(down.ok && down.execution.pendingEvent).toBeUndefined(); // no audit event for an observation
  });
});

describe('dry-run', () => {
  it('"would cancel" is recorded once, then the execution is only looked at every recheckAfter', () => {
    const dry = { ...p, mode: 'dry-run' as const };
    const r = recordWouldCancel(execution(), actor, ctx(T0 + HOUR, dry));
    if (!r.ok) throw new Error('would cancel');
    expect(r.execution.state).toBe('running');
    expect(r.execution.dueAt).toBe(T0 + HOUR + dry.recheckAfterMs);
    expect(recordWouldCancel(r.execution, actor, ctx(T0 + 2 * HOUR, dry))).toMatchObject({ ok: false, outcome: 'already_recorded' });
    // Switched to enforce: due at once, the dry-run mark does not delay enforcement.
    expect(stateDueAt(r.execution, p, T0 + HOUR + MIN)).toBe(T0 + HOUR + MIN);
  });
});

describe('notices', () => {
  it('are queued with the write, keep a terminal item due until delivered, and leave after delivery', () => {
    const claimed = claimCancel(execution(), { holder: 'a', leaseMs: MIN, actor }, ctx(T0 + HOUR));
    if (!claimed.ok) throw new Error('claim');
    const done = withNotices(recordOutcome(claimed.execution, 'a', { kind: 'cancelled' }, actor, ctx(T0 + HOUR)), ['chat', 'hook'], 'outcome', ctx(T0 + HOUR));
    if (!done.ok) throw new Error('outcome');
    expect(done.execution.state).toBe('cancelled');
    expect(done.execution.outbox?.map((n) => n.key)).toEqual([`${done.execution.version}:chat`, `${done.execution.version}:hook`]);
    expect(done.execution.dueAt).toBe(T0 + HOUR);
    const settled = settleNotices(
      done.execution,
      [
        { key: `${done.execution.version}:chat`, ok: true, thread: '123.4' },
        { key: `${done.execution.version}:hook`, ok: false, error: 'HTTP 503' },
      ],
      actor,
      ctx(T0 + HOUR),
    );
    if (!settled.ok) throw new Error('settle');
    expect(settled.execution.threads).toEqual({ chat: '123.4' });
    expect(settled.execution.outbox).toHaveLength(1);
    expect(settled.execution.outbox![0]!.nextAt).toBe(T0 + HOUR + 15 * SEC);
    expect(settled.execution.pendingEvent?.what).toBe('notification failed');
    let cur = settled.execution;
    for (let i = 1; i < NOTICE_MAX_ATTEMPTS; i++) {
      const r = settleNotices(cur, [{ key: cur.outbox![0]!.key, ok: false, error: 'HTTP 503' }], actor, ctx(T0 + 2 * HOUR));
      if (!r.ok) throw new Error('settle');
      cur = r.execution;
    }
    expect(cur.outbox).toBeUndefined();
    expect(cur.dueAt).toBeUndefined();
    expect(cur.pendingEvent?.detail).toMatch(/given up/);
  });
});

describe('snooze and cancel outcomes', () => {
  it('snooze records who and how long; refused on terminal executions', () => {
    const r = snooze(execution(), HOUR, actor, ctx(T0));
    expect(r.ok && r.execution.snoozedUntil).toBe(T0 + HOUR);
    expect(snooze(execution({ state: 'cancelled' }), HOUR, actor, ctx(T0))).toMatchObject({ outcome: 'terminal' });
  });
  it('provider outcomes map to what the store records', () => {
    const c = { now: T0, attempts: 1, maxAttempts: 3, pendingCheckMs: 30 * SEC, random: () => 0.5 };
    expect(toCancelResult({ kind: 'rate_limited', retryAfterMs: 120 * SEC }, c)).toEqual({
      kind: 'retry',
      retryAt: T0 + 120 * SEC,
      error: 'rate limited (retry after 120s)',
    });
    expect(toCancelResult({ kind: 'transient', error: 'HTTP 503' }, c)).toEqual({ kind: 'retry', retryAt: T0 + 15 * SEC, error: 'HTTP 503' });
    expect(toCancelResult({ kind: 'transient', error: 'HTTP 503' }, { ...c, attempts: 3 })).toMatchObject({
      kind: 'failed',
      error: 'gave up after 3 attempts: HTTP 503',
    });
    expect(toCancelResult({ kind: 'unauthorized', httpStatus: 401 }, c)).toMatchObject({ kind: 'failed' });
    expect(toCancelResult({ kind: 'cancel_pending' }, { ...c, resent: true })).toEqual({ kind: 'cancel_pending', checkAt: T0 + 30 * SEC, resent: true });
  });
});

describe('progress is one high-water mark, heartbeat or status read', () => {
  const hb = (e: ReturnType<typeof execution>, pct: number, now: number) => {
    const r = applyHeartbeat(e, { progress: { pct } }, ctx(now));
    if (!r.ok) throw new Error('heartbeat');
    return r.execution;
  };
  const read = (e: ReturnType<typeof execution>, fraction: number, now: number) => {
    const r = observe(e, { raw: 'running', fraction }, ctx(now));
    if (!r.ok) throw new Error('observe');
    return r.execution;
  };
  const fresh = () => execution({ trackedAt: T0, startedAt: T0 });

  it('a first heartbeat of 0 done is not progress (found by the protocol model): a run stalled since it started stays stalled', () => {
    const started = execution({ trackedAt: T0, startedAt: T0 - 30 * MIN });
    const zero = hb(started, 0, T0 + MIN);
    expect(zero.lastProgressAt).toBeUndefined();
    expect(zero.progressHighWater).toBe(0);
    expect(stateDueAt(zero, p, T0 + MIN)).toBeLessThanOrEqual(T0 + MIN); // stalled: due now
    const counted = applyHeartbeat(started, { progress: { done: 0 } }, ctx(T0 + MIN));
    expect(counted.ok && counted.execution.lastProgressAt).toBeUndefined();
    // Above zero, the first report is progress; after it, 0 again is not.
    const moved = hb(zero, 5, T0 + 2 * MIN);
    expect(moved.lastProgressAt).toBe(T0 + 2 * MIN);
    expect(hb(started, 5, T0 + 2 * MIN).lastProgressAt).toBe(T0 + 2 * MIN);
  });
  it('heartbeats froze at 20%, then a status read of 20%: the stall clock does not restart', () => {
    const a = hb(fresh(), 20, T0 + MIN);
    const b = read(a, 0.2, T0 + 10 * MIN);
    expect(b.lastProgressAt).toBe(T0 + MIN);
    expect(stateDueAt(b, p, T0 + 10 * MIN)).toBe(T0 + MIN + p.stallAfterMs! * p.warnAt);
  });
  it('a status read of 20% first, then a heartbeat of 20%: no new progress either', () => {
    const a = read(fresh(), 0.2, T0 + MIN);
    const b = hb(a, 20, T0 + 10 * MIN);
    expect(b.lastProgressAt).toBe(T0 + MIN);
  });
  it('a higher mark by either path is progress', () => {
    const a = hb(fresh(), 20, T0 + MIN);
    expect(read(a, 0.25, T0 + 5 * MIN).lastProgressAt).toBe(T0 + 5 * MIN);
    const b = read(fresh(), 0.2, T0 + MIN);
    expect(hb(b, 21, T0 + 6 * MIN).lastProgressAt).toBe(T0 + 6 * MIN);
    expect(read(b, 0.19, T0 + 7 * MIN).lastProgressAt).toBe(T0 + MIN);
  });
});

describe('recordFault: the watchdog failing on one execution is an outcome on that execution', () => {
  it('backs off while under maxFaults, then ends cancel_failed; any step forward clears the count', () => {
    const e = execution();
    const one = recordFault(e, { error: 'boom', maxFaults: 3, retryAt: T0 + HOUR + MIN }, actor, ctx(T0 + HOUR));
    if (!one.ok) throw new Error('fault');
    expect(one.execution).toMatchObject({ faults: 1, faultRetryAt: T0 + HOUR + MIN, lastError: 'boom', state: e.state });
    expect(one.execution.dueAt).toBe(T0 + HOUR + MIN);
    expect(one.execution.pendingEvent?.what).toBe('fault 1 of 3, will retry');
    const two = recordFault(one.execution, { error: 'boom', maxFaults: 3, retryAt: T0 + HOUR + 2 * MIN }, actor, ctx(T0 + HOUR + MIN));
    if (!two.ok) throw new Error('fault');
    const three = recordFault(two.execution, { error: 'boom', maxFaults: 3, retryAt: 0 }, actor, ctx(T0 + HOUR + 2 * MIN));
    expect(three.ok && three.execution.state).toBe('cancel_failed');
    expect(three.ok && three.execution.lastError).toMatch(/failed 3 times handling it: boom/);
    expect(three.ok && three.execution.faults).toBeUndefined();
    const claimed = claimCancel(one.execution, { holder: 'a', leaseMs: MIN, actor }, ctx(T0 + HOUR + MIN));
    expect(claimed.ok && claimed.execution.faults).toBeUndefined();
    expect(recordFault(three.ok ? three.execution : e, { error: 'x', maxFaults: 3, retryAt: 0 }, actor, ctx(T0 + 2 * HOUR))).toMatchObject({
      ok: false,
      outcome: 'terminal',
    });
  });
});

describe('a heartbeat moves the due time lazily (docs/cost.md)', () => {
  // Heartbeat limit 10m, warned at 80%: a heartbeat at t puts the next moment at t + 8m.
  const hp = policy({ heartbeatTimeoutMs: 10 * MIN });
  const beat = (e: ReturnType<typeof execution>, now: number, input = {}) => {
    const r = applyHeartbeat(e, input, ctx(now, hp));
    if (!r.ok) throw new Error('heartbeat');
    return r.execution;
  };
  it('keeps the stored due time while it is more than a quarter of the new horizon away', () => {
    const e = execution({ dueAt: T0 + 8 * MIN });
    // At 5m: new horizon 8m, a quarter is 2m; the stored one is 3m away: kept.
    expect(beat(e, T0 + 5 * MIN).dueAt).toBe(T0 + 8 * MIN);
    // 1 ms later than the quarter: still kept; at exactly the quarter: moved.
    expect(beat(e, T0 + 6 * MIN - 1).dueAt).toBe(T0 + 8 * MIN);
    expect(beat(e, T0 + 6 * MIN).dueAt).toBe(T0 + 14 * MIN);
    // Already due (the sweep has it queued): moved out of the queue.
    expect(beat(e, T0 + 9 * MIN).dueAt).toBe(T0 + 17 * MIN);
  });
  it('moves it earlier at once when a limit comes closer (reported cost past the limit: due now)', () => {
    const cp = policy({ maxRuntimeMs: HOUR, maxCostUsd: 10 });
    const e = execution({ dueAt: T0 + 48 * MIN });
    const r = applyHeartbeat(e, { costUsd: 12 }, ctx(T0 + MIN, cp));
    expect(r.ok && r.execution.dueAt).toBe(T0 + MIN);
    const cheap = applyHeartbeat(e, { costUsd: 1 }, ctx(T0 + MIN, cp));
    expect(cheap.ok && cheap.execution.dueAt).toBe(T0 + 48 * MIN);
  });
  it('sets one when the item has none; records count, message (clipped) and cost, and no audit event', () => {
    const e = execution({ pendingEvent: { executionId: 'wd_aaaaaaaaaaaa', version: 0, at: T0, actor, what: 'tracked', to: 'running' } });
    const once = beat(e, T0 + MIN, { message: 'm'.repeat(500), costUsd: 3 });
    expect(once).toMatchObject({ dueAt: T0 + 9 * MIN, heartbeats: 1, costUsd: 3, lastHeartbeatAt: T0 + MIN, version: 1, updatedAt: T0 + MIN });
    expect(once.lastMessage).toHaveLength(200);
    expect(once.pendingEvent).toEqual(e.pendingEvent);
    expect(beat(once, T0 + 2 * MIN).heartbeats).toBe(2);
  });
  it('keeps a run of faults and its backoff (a heartbeat is not the watchdog making progress)', () => {
    const e = execution({ dueAt: T0 + 8 * MIN, faults: 2, faultRetryAt: T0 + 3 * MIN });
    expect(beat(e, T0 + MIN)).toMatchObject({ faults: 2, faultRetryAt: T0 + 3 * MIN });
  });
});
