/**
 * The core added in the last rounds, from the fast tests (the ones `npm run mutation` runs):
 * when a breach began (BreachToCancelMs), what makes a named policy looser than the matched
 * one (a scoped key's choice), heartbeat order, the held lost-heartbeat cancel, and the
 * asker who waits for a cancel's outcome. Each at, before and after its edge.
 */
import { describe, expect, it } from 'vitest';
import { breachAt, looserThan } from '../../src/core/policy.js';
import * as T from '../../src/core/transitions.js';
import { HOUR, MIN, SEC, T0, execution, policy } from '../helpers/fixtures.js';

const ctx = (now: number, pol = policy({ maxRuntimeMs: HOUR, heartbeatTimeoutMs: 10 * MIN })) => ({ now, policy: pol, retentionMs: 30 * 24 * HOUR });

describe('breachAt: the moment the earliest breached limit was crossed', () => {
  it('a time limit: its deadline (extensions included); only the reasons asked about count', () => {
    const p = policy({ maxRuntimeMs: HOUR, heartbeatTimeoutMs: 20 * MIN });
    expect(breachAt(execution(), p, ['runtime'], T0 + 2 * HOUR)).toBe(T0 + HOUR);
    expect(breachAt(execution(), p, ['heartbeat'], T0 + 2 * HOUR)).toBe(T0 + 20 * MIN);
    expect(breachAt(execution(), p, ['runtime', 'heartbeat'], T0 + 2 * HOUR)).toBe(T0 + 20 * MIN);
    expect(breachAt(execution(), p, [], T0 + 2 * HOUR)).toBeUndefined();
    expect(breachAt(execution({ extensions: [{ ms: 30 * MIN, at: T0, by: 'x' }] }), p, ['runtime'], T0 + 2 * HOUR)).toBe(T0 + 90 * MIN);
    // From the earlier of the reported start and the tracking time.
    expect(breachAt(execution({ startedAt: T0 - 10 * MIN }), p, ['runtime'], T0 + 2 * HOUR)).toBe(T0 + 50 * MIN);
    expect(breachAt(execution({ trackedAt: T0 + 10 * MIN }), p, ['runtime'], T0 + 2 * HOUR)).toBe(T0 + HOUR);
  });

  it('cost: a reported cost at the heartbeat that reported it (else now); an hourly estimate when it reached the limit; neither, nothing', () => {
    const est = policy({ maxCostUsd: 5, costPerHourUsd: 10 });
    expect(breachAt(execution(), est, ['cost'], T0 + HOUR)).toBe(T0 + 30 * MIN);
    const reported = policy({ maxCostUsd: 5, costPerHourUsd: 10 });
    expect(breachAt(execution({ costUsd: 6, lastHeartbeatAt: T0 + 7 * MIN }), reported, ['cost'], T0 + HOUR)).toBe(T0 + 7 * MIN);
    expect(breachAt(execution({ costUsd: 6 }), policy({ maxCostUsd: 5 }), ['cost'], T0 + HOUR)).toBe(T0 + HOUR);
    expect(breachAt(execution(), policy({ maxCostUsd: 5 }), ['cost'], T0 + HOUR)).toBeUndefined();
    expect(breachAt(execution(), policy({ maxCostUsd: 5, costPerHourUsd: 0 }), ['cost'], T0 + HOUR)).toBeUndefined();
    // The earliest wins across kinds.
    expect(breachAt(execution(), policy({ maxCostUsd: 5, costPerHourUsd: 10, maxRuntimeMs: 20 * MIN }), ['cost', 'runtime'], T0 + HOUR)).toBe(T0 + 20 * MIN);
    expect(breachAt(execution(), policy({ maxCostUsd: 5, costPerHourUsd: 10, maxRuntimeMs: 40 * MIN }), ['cost', 'runtime'], T0 + HOUR)).toBe(T0 + 30 * MIN);
  });
});

describe('looserThan: what a named policy relaxes against the matched one', () => {
  const base = policy({ maxRuntimeMs: HOUR, stallAfterMs: 10 * MIN, maxCostUsd: 5, maxExtensionMs: HOUR });
  it('as strict or stricter: nothing', () => {
    expect(looserThan(base, base)).toEqual([]);
    expect(looserThan(policy({ maxRuntimeMs: 30 * MIN, stallAfterMs: 10 * MIN, maxCostUsd: 1, maxExtensionMs: 0, heartbeatTimeoutMs: MIN }), base)).toEqual([]);
  });
  it('each limit that is higher, or missing where the base has one; equal is not looser', () => {
    expect(looserThan(policy({ maxRuntimeMs: HOUR + 1, stallAfterMs: 10 * MIN, maxCostUsd: 5, maxExtensionMs: HOUR }), base)).toEqual(['maxRuntime']);
    expect(looserThan(policy({ maxRuntimeMs: HOUR, maxCostUsd: 5, maxExtensionMs: HOUR }), base)).toEqual(['stallAfter']);
    expect(looserThan(policy({ maxRuntimeMs: HOUR, stallAfterMs: 10 * MIN, maxCostUsd: 5.01, maxExtensionMs: HOUR }), base)).toEqual(['maxCostUsd']);
    expect(looserThan(policy({ maxExtensionMs: HOUR }), base)).toEqual(['maxRuntime', 'stallAfter', 'maxCostUsd']);
    // A limit the base does not set may be anything.
    expect(looserThan(policy({ maxRuntimeMs: HOUR, stallAfterMs: 10 * MIN, maxCostUsd: 5, maxExtensionMs: HOUR, heartbeatTimeoutMs: 9 * HOUR }), base)).toEqual(
      [],
    );
  });
  it('dry-run where the base enforces, and a longer extension ceiling', () => {
    expect(looserThan({ ...base, mode: 'dry-run' }, base)).toEqual(['mode']);
    expect(looserThan(base, { ...base, mode: 'dry-run' })).toEqual([]);
    expect(looserThan({ ...base, maxExtensionMs: HOUR + 1 }, base)).toEqual(['maxExtension']);
    expect(looserThan({ ...base, maxExtensionMs: HOUR - 1 }, base)).toEqual([]);
  });
});

describe('heartbeat order', () => {
  const hb = (cur: ReturnType<typeof execution>, input: Parameters<typeof T.applyHeartbeat>[1], now: number, sentAt?: number) =>
    T.applyHeartbeat(cur, input, ctx(now), sentAt);

  it('a seq not above the last applied is stale (changes nothing); a higher one applies and is kept', () => {
    const first = hb(execution(), { seq: 10, costUsd: 2 }, T0 + MIN);
    if (!first.ok) throw new Error('applied');
    expect([first.execution.heartbeatSeq, first.execution.heartbeats, first.execution.lastHeartbeatAt]).toEqual([10, 1, T0 + MIN]);
    expect(hb(first.execution, { seq: 10, costUsd: 1 }, T0 + 2 * MIN)).toMatchObject({ ok: false, outcome: 'stale', execution: first.execution });
    expect(hb(first.execution, { seq: 9 }, T0 + 2 * MIN)).toMatchObject({ ok: false, outcome: 'stale' });
    const next = hb(first.execution, { seq: 11 }, T0 + 2 * MIN);
    expect(next).toMatchObject({ ok: true, execution: { heartbeatSeq: 11, heartbeats: 2, lastHeartbeatAt: T0 + 2 * MIN } });
    // Without a seq, nothing is compared and the last seq is kept.
    const plain = hb(first.execution, {}, T0 + 3 * MIN);
    expect(plain).toMatchObject({ ok: true, execution: { heartbeatSeq: 10 } });
  });

  it('a signed timestamp not after the last applied is stale; a later one applies and is kept', () => {
    const first = hb(execution(), {}, T0 + MIN, T0 + 50 * SEC);
    if (!first.ok) throw new Error('applied');
    expect(first.execution.heartbeatSentAt).toBe(T0 + 50 * SEC);
    expect(hb(first.execution, {}, T0 + 2 * MIN, T0 + 50 * SEC)).toMatchObject({ ok: false, outcome: 'stale' });
    expect(hb(first.execution, {}, T0 + 2 * MIN, T0 + 40 * SEC)).toMatchObject({ ok: false, outcome: 'stale' });
    expect(hb(first.execution, {}, T0 + 2 * MIN, T0 + 51 * SEC)).toMatchObject({ ok: true, execution: { heartbeatSentAt: T0 + 51 * SEC } });
    expect(hb(first.execution, {}, T0 + 2 * MIN)).toMatchObject({ ok: true, execution: { heartbeatSentAt: T0 + 50 * SEC } });
  });

  it('cost never goes back; progress shows its high-water mark; only a new mark is progress', () => {
    const a = hb(execution(), { costUsd: 3, progress: { done: 5, total: 10 } }, T0 + MIN);
    if (!a.ok) throw new Error('applied');
    expect(a.execution).toMatchObject({ costUsd: 3, progress: { done: 5, total: 10 }, progressHighWater: 5, observedFraction: 0.5, lastProgressAt: T0 + MIN });
    const lower = hb(a.execution, { costUsd: 2, progress: { done: 4, total: 10 } }, T0 + 2 * MIN);
    expect(lower).toMatchObject({ ok: true, execution: { costUsd: 3, progress: { done: 5, total: 10 }, progressHighWater: 5, lastProgressAt: T0 + MIN } });
    const same = hb(a.execution, { progress: { done: 5, total: 10 } }, T0 + 3 * MIN);
    expect(same).toMatchObject({ ok: true, execution: { lastProgressAt: T0 + MIN } });
    const more = hb(a.execution, { progress: { done: 6, total: 10 }, message: 'x'.repeat(300) }, T0 + 4 * MIN);
    expect(more).toMatchObject({ ok: true, execution: { progressHighWater: 6, lastProgressAt: T0 + 4 * MIN } });
    expect(more.ok && more.execution.lastMessage?.length).toBe(200);
    // Progress the platform already showed (a higher fraction) is not new when the tracker reports it.
    const seen = hb(execution({ observedFraction: 0.8 }), { progress: { done: 6, total: 10 } }, T0 + MIN);
    expect(seen).toMatchObject({ ok: true, execution: { progressHighWater: 6, observedFraction: 0.8 } });
    expect(seen.ok && seen.execution.lastProgressAt).toBeUndefined();
  });

  it('a heartbeat clears a held lost-heartbeat cancel; an ended execution takes none', () => {
    const cleared = hb(execution({ heartbeatHeldUntil: T0 + HOUR }), {}, T0 + MIN);
    expect(cleared.ok && 'heartbeatHeldUntil' in cleared.execution).toBe(false);
    expect(cleared.ok).toBe(true);
    expect(hb(execution({ state: 'cancelled' }), {}, T0 + MIN)).toMatchObject({ ok: false, outcome: 'terminal' });
  });

  it('the due time moves earlier at once, later only when it moved by a quarter or more', () => {
    const p = policy({ heartbeatTimeoutMs: 10 * MIN });
    const at = (dueAt: number, now: number) => T.applyHeartbeat(execution({ dueAt }), {}, { now, policy: p, retentionMs: HOUR });
    // Its next moment after a heartbeat at `now`: the warning at now + 8m.
    expect(at(T0 + 20 * MIN, T0 + MIN)).toMatchObject({ execution: { dueAt: T0 + 9 * MIN } });
    expect(at(T0 + 8 * MIN, T0 + MIN)).toMatchObject({ execution: { dueAt: T0 + 8 * MIN } });
    expect(at(T0 + 2 * MIN, T0 + MIN)).toMatchObject({ execution: { dueAt: T0 + 9 * MIN } });
    expect(at(T0 + 7 * MIN, T0 + MIN)).toMatchObject({ execution: { dueAt: T0 + 7 * MIN } });
  });
});

describe('the held lost-heartbeat cancel', () => {
  const actor = { id: 'policy:p', via: 'sweep' };
  it('held once with an audit event, then moved on without another; never after the run left running/warned', () => {
    const first = T.holdHeartbeatCancel(execution(), T0 + 2 * MIN, 'fleet silent', actor, ctx(T0));
    expect(first).toMatchObject({
      ok: true,
      execution: {
        heartbeatHeldUntil: T0 + 2 * MIN,
        version: 1,
        pendingEvent: { what: 'lost-heartbeat cancel held', why: 'heartbeat', detail: 'fleet silent', actor },
      },
    });
    if (!first.ok) throw new Error('held');
    const again = T.holdHeartbeatCancel({ ...first.execution, pendingEvent: undefined }, T0 + 4 * MIN, 'still', actor, ctx(T0 + 2 * MIN));
    expect(again).toMatchObject({ ok: true, execution: { heartbeatHeldUntil: T0 + 4 * MIN, version: 2, pendingEvent: undefined } });
    expect(T.holdHeartbeatCancel(execution({ state: 'warned' }), T0 + MIN, 'x'.repeat(600), actor, ctx(T0))).toMatchObject({
      ok: true,
      execution: { pendingEvent: { detail: 'x'.repeat(500) } },
    });
    for (const state of ['cancel_requested', 'cancelling', 'cancelled', 'finished'] as const) {
      expect(T.holdHeartbeatCancel(execution({ state }), T0 + MIN, 'x', actor, ctx(T0))).toMatchObject({ ok: false, outcome: 'not_claimable' });
    }
  });
});

describe('the asker who waits for the outcome', () => {
  const reply = { to: 'slack' as const, url: 'https://hooks.slack.com/x', until: T0 + 29 * MIN };
  it('remembered on a live execution (no state change, no audit event); refused once it ended', () => {
    const cur = execution({ state: 'cancelling', version: 3 });
    expect(T.awaitOutcome(cur, reply, ctx(T0 + MIN))).toEqual({ ok: true, execution: { ...cur, replyTo: reply, version: 4, updatedAt: T0 + MIN } });
    expect(T.awaitOutcome(execution({ state: 'cancelled' }), reply, ctx(T0))).toMatchObject({ ok: false, outcome: 'terminal' });
  });
});
