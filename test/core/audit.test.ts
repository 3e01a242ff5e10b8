/**
 * What each transition records, exactly: the fields it changes and the audit event people
 * read in `watchdog show` and chat (what, why, detail, from → to). One case per branch.
 */
import { describe, expect, it } from 'vitest';
import type { Execution } from '../../src/core/model.js';
import * as T from '../../src/core/transitions.js';
import { HOUR, MIN, SEC, T0, execution, policy } from '../helpers/fixtures.js';

const actor = { id: 'U1', via: 'slack' };
const p = policy({ maxRuntimeMs: HOUR });
const RET = 30 * 24 * HOUR;
const ctx = (now: number, pol = p): T.Ctx => ({ now, policy: pol, retentionMs: RET });
const NOW = T0 + 10 * MIN;

function ok(t: T.Transition): Execution {
  if (!t.ok) throw new Error(`refused: ${t.outcome}`);
  return t.execution;
}
const event = (t: T.Transition) => {
  const { executionId: _id, at: _at, version: _v, ...rest } = ok(t).pendingEvent!;
  return rest;
};
const cancelling = (over: Partial<Execution> = {}) =>
  execution({
    state: 'cancelling',
    attempts: 1,
    stopReasons: ['runtime'],
    requestedBy: { id: 'policy:p', via: 'sweep' },
    lease: { holder: 'S', until: NOW + MIN },
    version: 4,
    ...over,
  });

describe('newExecution', () => {
  it('records what the tracker said, defaults the rest, is due at its first moment and audited as tracked', () => {
    const base = { connection: 'c', provider: 'catalyzed', externalId: 'x', policy: 'p', actor };
    const full = T.newExecution({ ...base, labels: { team: 'ml' }, owner: 'ana', limits: { maxRuntimeMs: 30 * MIN }, startedAt: T0 - MIN }, ctx(T0));
    expect(full).toEqual({
      id: full.id,
      connection: 'c',
      provider: 'catalyzed',
      externalId: 'x',
      policy: 'p',
      labels: { team: 'ml' },
      owner: 'ana',
      limits: { maxRuntimeMs: 30 * MIN },
      startedAt: T0 - MIN,
      trackedAt: T0,
      state: 'running',
      warned: {},
      extensions: [],
      attempts: 0,
      version: 0,
      updatedAt: T0,
      dueAt: T0 - MIN + 24 * MIN,
      pendingEvent: { executionId: full.id, version: 0, at: T0, actor, what: 'tracked', to: 'running', detail: 'policy p' },
    });
    const bare = T.newExecution(base, ctx(T0));
    expect(bare).not.toHaveProperty('owner');
    expect(bare).toMatchObject({ labels: {}, limits: {}, startedAt: T0, dueAt: T0 + 48 * MIN });
    expect(bare.id).toMatch(/^wd_[a-z0-9]{12}$/);
  });
});

describe('finish, warn, request', () => {
  it('finished: provider status kept and in the detail; endedAt, TTL, no due time, no lease', () => {
    const e = ok(T.markFinished(execution({ lease: { holder: 'S', until: NOW + MIN } }), actor, ctx(NOW), 'SUCCEEDED'));
    expect(e).toMatchObject({
      state: 'finished',
      providerStatus: 'SUCCEEDED',
      endedAt: NOW,
      expiresAt: Math.floor((NOW + RET) / 1000),
      version: 1,
      updatedAt: NOW,
    });
    expect(e).not.toHaveProperty('dueAt');
    expect(e).not.toHaveProperty('lease');
    expect(event(T.markFinished(execution(), actor, ctx(NOW), 'SUCCEEDED'))).toEqual({
      actor,
      what: 'finished',
      from: 'running',
      to: 'finished',
      detail: 'provider status SUCCEEDED',
    });
    const plain = T.markFinished(execution(), actor, ctx(NOW));
    expect(event(plain)).toEqual({ actor, what: 'finished', from: 'running', to: 'finished' });
    expect(ok(plain)).not.toHaveProperty('providerStatus');
    // An end already recorded is kept.
    expect(ok(T.markFinished(execution({ endedAt: T0 }), actor, ctx(NOW))).endedAt).toBe(T0);
  });
  it('warned: one limit names it; several list them; earlier warnings are kept', () => {
    const one = T.recordWarning(execution({ warned: { stall: 5 } }), { runtime: T0 + HOUR }, actor, ctx(NOW));
    expect(ok(one).warned).toEqual({ stall: 5, runtime: T0 + HOUR });
    expect(event(one)).toEqual({ actor, what: 'warned', why: 'runtime', from: 'running', to: 'warned', detail: 'limits near: runtime' });
    const two = T.recordWarning(execution(), { runtime: 1, stall: 2 }, actor, ctx(NOW));
    expect(event(two)).toEqual({ actor, what: 'warned', from: 'running', to: 'warned', detail: 'limits near: runtime, stall' });
  });
  it('cancel requested: by whom and why; the attempt count starts again', () => {
    const t = T.requestCancel(execution({ attempts: 3 }), ['manual'], actor, ctx(NOW), 'from chat');
    expect(ok(t)).toMatchObject({ state: 'cancel_requested', stopReasons: ['manual'], requestedBy: actor, attempts: 0, dueAt: NOW });
    expect(event(t)).toEqual({ actor, what: 'cancel requested', why: 'manual', from: 'running', to: 'cancel_requested', detail: 'from chat' });
    expect(event(T.requestCancel(execution(), ['runtime', 'cost'], actor, ctx(NOW)))).toEqual({
      actor,
      what: 'cancel requested',
      from: 'running',
      to: 'cancel_requested',
      detail: 'reasons: runtime, cost',
    });
  });
});

describe('claimCancel', () => {
  const input = { holder: 'S2', leaseMs: 2 * MIN, actor: { id: 'sweep-1', via: 'sweep' } };
  it("a first claim: lease, attempt 1, the request's reasons and requester kept", () => {
    const req = ok(T.requestCancel(execution(), ['manual'], actor, ctx(T0)));
    const t = T.claimCancel(req, input, ctx(NOW));
    expect(ok(t)).toMatchObject({
      state: 'cancelling',
      lease: { holder: 'S2', until: NOW + 2 * MIN },
      attempts: 1,
      stopReasons: ['manual'],
      requestedBy: actor,
      dueAt: NOW + 2 * MIN,
    });
    expect(event(t)).toEqual({
      actor: input.actor,
      what: 'cancel claimed',
      why: 'manual',
      from: 'cancel_requested',
      to: 'cancelling',
      detail: 'attempt 1, lease 2m',
    });
  });
  it('without a request: the claimer is the requester, reasons from the claim or "manual"', () => {
    expect(ok(T.claimCancel(execution(), { ...input, reasons: ['runtime', 'stall'] }, ctx(NOW)))).toMatchObject({
      stopReasons: ['runtime', 'stall'],
      requestedBy: input.actor,
    });
    const t = T.claimCancel(execution(), input, ctx(NOW));
    expect(ok(t).stopReasons).toEqual(['manual']);
    expect(event(T.claimCancel(execution(), { ...input, reasons: ['runtime', 'stall'] }, ctx(NOW)))).not.toHaveProperty('why');
  });
  it('a lease is valid until exactly its end; then it is recovered as a new attempt', () => {
    const held = cancelling({ lease: { holder: 'S', until: NOW + 1 } });
    expect(T.claimCancel(held, input, ctx(NOW))).toMatchObject({ ok: false, outcome: 'lease_held' });
    const t = T.claimCancel(cancelling({ lease: { holder: 'S', until: NOW } }), input, ctx(NOW));
    expect(ok(t)).toMatchObject({ attempts: 2, lease: { holder: 'S2' } });
    expect(event(t)).toMatchObject({ what: 'cancel claimed (expired lease recovered)', why: 'runtime', detail: 'attempt 2, lease 2m' });
  });
  it('an accepted cancel is checked on, not attempted again', () => {
    const t = T.claimCancel(cancelling({ lease: { holder: 'S', until: NOW }, cancelAcceptedAt: NOW - 30 * SEC }), input, ctx(NOW));
    expect(ok(t).attempts).toBe(1);
    expect(event(t)).toMatchObject({ what: 'cancel confirmation check', detail: 'accepted 30s ago' });
  });
  it('a retry waits for its time: not claimable 1 ms before, claimable at it', () => {
    const waiting = execution({ state: 'cancel_requested', nextAttemptAt: NOW + 1, stopReasons: ['manual'] });
    expect(T.claimCancel(waiting, input, ctx(NOW))).toEqual({ ok: false, outcome: 'not_claimable', execution: waiting });
    expect(ok(T.claimCancel({ ...waiting, nextAttemptAt: NOW }, input, ctx(NOW))).state).toBe('cancelling');
    // Other states with a retry time set are not held back by it.
    expect(ok(T.claimCancel(execution({ nextAttemptAt: NOW + HOUR }), input, ctx(NOW))).state).toBe('cancelling');
  });
});

describe('recordOutcome', () => {
  const o = (r: T.CancelResult, e = cancelling()) => T.recordOutcome(e, 'S', r, actor, ctx(NOW));
  it('only the lease holder, only while cancelling', () => {
    expect(o({ kind: 'cancelled' }, cancelling({ lease: { holder: 'other', until: NOW + MIN } }))).toMatchObject({ ok: false, outcome: 'lease_lost' });
    expect(o({ kind: 'cancelled' }, execution({ state: 'cancel_requested', lease: { holder: 'S', until: NOW + MIN } }))).toMatchObject({
      ok: false,
      outcome: 'lease_lost',
    });
    expect(o({ kind: 'cancelled' }, cancelling({ lease: undefined }))).toMatchObject({ ok: false, outcome: 'lease_lost' });
  });
  it('cancelled', () => {
    const t = o({ kind: 'cancelled', providerStatus: 'CANCELLED', response: 'r'.repeat(1200) });
    expect(ok(t)).toMatchObject({ state: 'cancelled', providerStatus: 'CANCELLED', endedAt: NOW });
    expect(event(t)).toEqual({ actor, what: 'cancelled', why: 'runtime', from: 'cancelling', to: 'cancelled', providerResponse: 'r'.repeat(1000) });
    expect(event(o({ kind: 'cancelled' }, cancelling({ stopReasons: ['runtime', 'cost'] })))).toEqual({
      actor,
      what: 'cancelled',
      from: 'cancelling',
      to: 'cancelled',
    });
    expect(ok(o({ kind: 'cancelled' }))).not.toHaveProperty('providerStatus');
  });
  it('already finished', () => {
    const t = o({ kind: 'already_finished', providerStatus: 'SUCCEEDED', response: '{}' });
    expect(ok(t)).toMatchObject({ state: 'finished', providerStatus: 'SUCCEEDED' });
    expect(event(t)).toEqual({ actor, what: 'finished before the cancel took effect', from: 'cancelling', to: 'finished', providerResponse: '{}' });
  });
  it('pending: accepted once, checked at its time under the same holder; sent again is said', () => {
    const t = o({ kind: 'cancel_pending', checkAt: NOW + 30 * SEC, providerStatus: 'CANCELLING' });
    expect(ok(t)).toMatchObject({
      state: 'cancelling',
      cancelAcceptedAt: NOW,
      nextAttemptAt: NOW + 30 * SEC,
      lease: { holder: 'S', until: NOW + 30 * SEC },
      providerStatus: 'CANCELLING',
      dueAt: NOW + 30 * SEC,
    });
    expect(ok(t)).not.toHaveProperty('cancelResentAt');
    expect(event(t)).toEqual({ actor, what: 'cancel accepted, not yet effective', from: 'cancelling', to: 'cancelling' });
    const again = o({ kind: 'cancel_pending', checkAt: NOW + MIN, resent: true }, cancelling({ cancelAcceptedAt: T0 }));
    expect(ok(again)).toMatchObject({ cancelAcceptedAt: T0, cancelResentAt: NOW });
    expect(event(again).what).toBe('cancel sent again (not confirmed in time)');
  });
  it('retry: back to requested, no lease, at its time', () => {
    const t = o({ kind: 'retry', retryAt: NOW + 15 * SEC, error: 'HTTP 503' });
    const e = ok(t);
    expect(e).toMatchObject({ state: 'cancel_requested', nextAttemptAt: NOW + 15 * SEC, lastError: 'HTTP 503', dueAt: NOW + 15 * SEC });
    expect(e).not.toHaveProperty('lease');
    expect(event(t)).toEqual({ actor, what: 'cancel will be retried', from: 'cancelling', to: 'cancel_requested', detail: 'HTTP 503' });
  });
  it('failed and unconfirmed: terminal, with the error', () => {
    const f = o({ kind: 'failed', error: 'HTTP 401' });
    expect(ok(f)).toMatchObject({ state: 'cancel_failed', lastError: 'HTTP 401' });
    expect(event(f)).toEqual({ actor, what: 'cancel failed', why: 'runtime', from: 'cancelling', to: 'cancel_failed', detail: 'HTTP 401' });
    const u = o({ kind: 'unconfirmed', error: 'still RUNNING', providerStatus: 'RUNNING' });
    expect(ok(u)).toMatchObject({ state: 'cancel_unconfirmed', lastError: 'still RUNNING', providerStatus: 'RUNNING' });
    expect(event(u)).toEqual({ actor, what: 'cancel unconfirmed', why: 'runtime', from: 'cancelling', to: 'cancel_unconfirmed', detail: 'still RUNNING' });
  });
});

describe('extend and snooze', () => {
  it('an extension is recorded with who, when and why; on a pending request it withdraws it', () => {
    const t = T.extend(execution(), 30 * MIN, actor, ctx(NOW), 'needs the night');
    expect(ok(t)).toMatchObject({ state: 'running', extensions: [{ ms: 30 * MIN, at: NOW, by: 'U1', reason: 'needs the night' }], dueAt: T0 + 72 * MIN });
    expect(event(t)).toEqual({ actor, what: 'extended by 30m', from: 'running', to: 'running', detail: 'needs the night' });
    expect(ok(T.extend(execution(), 30 * MIN, actor, ctx(NOW))).extensions).toEqual([{ ms: 30 * MIN, at: NOW, by: 'U1' }]);
    expect(event(T.extend(execution(), 30 * MIN, actor, ctx(NOW)))).not.toHaveProperty('detail');
    const requested = ok(T.requestCancel(execution(), ['manual'], actor, ctx(T0)));
    const w = ok(T.extend({ ...requested, nextAttemptAt: NOW + MIN }, 30 * MIN, actor, ctx(NOW)));
    expect(w.state).toBe('running');
    for (const k of ['stopReasons', 'requestedBy', 'nextAttemptAt'] as const) expect(w).not.toHaveProperty(k);
    expect(w.dueAt).toBe(T0 + 72 * MIN);
    // A warned execution stays warned (and keeps what it was warned about).
    expect(ok(T.extend(execution({ state: 'warned', warned: { runtime: T0 + HOUR } }), 30 * MIN, actor, ctx(NOW)))).toMatchObject({
      state: 'warned',
      warned: { runtime: T0 + HOUR },
    });
    expect(ok(T.extend(execution({ stopReasons: ['cost'] }), 30 * MIN, actor, ctx(NOW))).stopReasons).toEqual(['cost']);
  });
  it('snooze: positive, at most maxSnooze (else maxExtension), recorded', () => {
    const capped = policy({ maxRuntimeMs: HOUR, maxSnoozeMs: HOUR });
    expect(T.snooze(execution(), 0, actor, ctx(NOW, capped))).toMatchObject({ ok: false, outcome: 'refused', message: 'snooze must be positive' });
    expect(ok(T.snooze(execution(), HOUR, actor, ctx(NOW, capped))).snoozedUntil).toBe(NOW + HOUR);
    expect(T.snooze(execution(), HOUR + 1, actor, ctx(NOW, capped))).toMatchObject({
      ok: false,
      outcome: 'refused',
      message: 'snooze refused: 1h exceeds maxSnooze 1h of policy "p"',
    });
    expect(ok(T.snooze(execution(), 2 * HOUR, actor, ctx(NOW))).snoozedUntil).toBe(NOW + 2 * HOUR);
    expect(T.snooze(execution(), 2 * HOUR + 1, actor, ctx(NOW))).toMatchObject({ ok: false, outcome: 'refused' });
    expect(event(T.snooze(execution(), HOUR, actor, ctx(NOW)))).toEqual({ actor, what: 'warnings snoozed for 1h', from: 'running', to: 'running' });
  });
});

describe('faults, reschedule, dry-run', () => {
  it('a fault is clipped, counted and backed off; the last one gives up with the count in the error', () => {
    const long = 'x'.repeat(600);
    const t = T.recordFault(execution(), { error: long, maxFaults: 3, retryAt: NOW + MIN }, actor, ctx(NOW));
    expect(ok(t)).toMatchObject({ faults: 1, faultRetryAt: NOW + MIN, lastError: 'x'.repeat(500), dueAt: T0 + 48 * MIN });
    expect(event(t)).toEqual({ actor, what: 'fault 1 of 3, will retry', from: 'running', to: 'running', detail: 'x'.repeat(500) });
    const last = T.recordFault(execution({ faults: 2 }), { error: 'boom', maxFaults: 3, retryAt: NOW + MIN }, actor, ctx(NOW));
    expect(ok(last)).toMatchObject({ state: 'cancel_failed', lastError: 'the watchdog failed 3 times handling it: boom' });
    expect(event(last)).toEqual({ actor, what: 'given up after repeated faults', from: 'running', to: 'cancel_failed', detail: 'boom' });
  });
  it('reschedule: a new version and due time, nothing else; refused once terminal', () => {
    const stale = execution({
      dueAt: T0,
      version: 3,
      lastHeartbeatAt: NOW,
      pendingEvent: { executionId: 'wd_aaaaaaaaaaaa', version: 3, at: T0, actor, what: 'warned', to: 'warned' },
    });
    expect(ok(T.reschedule(stale, ctx(NOW)))).toEqual({ ...stale, version: 4, updatedAt: NOW, dueAt: T0 + 48 * MIN });
    expect(T.reschedule(execution({ state: 'cancelled' }), ctx(NOW))).toMatchObject({ ok: false, outcome: 'terminal' });
  });
  it('would cancel: once, only while under policy and breached; one reason named', () => {
    const late = ctx(T0 + HOUR);
    const t = T.recordWouldCancel(execution(), actor, late);
    expect(ok(t)).toMatchObject({ wouldCancelAt: T0 + HOUR, stopReasons: ['runtime'], state: 'running' });
    expect(event(t)).toEqual({ actor, what: 'would cancel (dry-run)', why: 'runtime', from: 'running', to: 'running', detail: 'limits breached: runtime' });
    expect(ok(T.recordWouldCancel(execution({ state: 'warned' }), actor, late)).state).toBe('warned');
    expect(T.recordWouldCancel(execution({ wouldCancelAt: T0 }), actor, late)).toMatchObject({ ok: false, outcome: 'already_recorded' });
    expect(T.recordWouldCancel(execution(), actor, ctx(NOW))).toMatchObject({ ok: false, outcome: 'not_claimable' });
    expect(T.recordWouldCancel(execution({ state: 'cancel_requested' }), actor, late)).toMatchObject({ ok: false, outcome: 'not_claimable' });
    const two = T.recordWouldCancel(execution({ limits: { heartbeatTimeoutMs: MIN } }), actor, late);
    expect(event(two)).toEqual({ actor, what: 'would cancel (dry-run)', from: 'running', to: 'running', detail: 'limits breached: runtime, heartbeat' });
  });
  it('decideAndClaim re-decides for warned executions too', () => {
    const input = { holder: 'S', leaseMs: MIN, actor };
    expect(T.decideAndClaim(execution({ state: 'warned' }), input, ctx(NOW))).toMatchObject({ ok: false, outcome: 'not_claimable' });
    expect(ok(T.decideAndClaim(execution({ state: 'warned' }), input, ctx(T0 + HOUR))).stopReasons).toEqual(['runtime']);
  });
});

describe('due time by state', () => {
  const due = (e: Execution, pol = p, now = NOW) => T.computeDueAt(e, pol, now);
  it('under policy: the next moment; a warning or a cancel is due now; dry-run looks again after recheckAfter', () => {
    expect(due(execution())).toBe(T0 + 48 * MIN);
    expect(due(execution(), p, T0 + 50 * MIN)).toBe(T0 + 50 * MIN);
    expect(due(execution({ state: 'warned', warned: { runtime: T0 + HOUR } }), p, T0 + 50 * MIN)).toBe(T0 + HOUR);
    const dry = policy({ maxRuntimeMs: HOUR, mode: 'dry-run' });
    expect(due(execution(), dry, T0 + HOUR)).toBe(T0 + HOUR);
    expect(due(execution({ wouldCancelAt: T0 + HOUR }), dry, T0 + 2 * HOUR)).toBe(T0 + 3 * HOUR);
  });
  it('requested: its retry time, else now; cancelling: the earlier of lease end and check time, else now; terminal: none', () => {
    expect(due(execution({ state: 'cancel_requested', nextAttemptAt: NOW + MIN }))).toBe(NOW + MIN);
    expect(due(execution({ state: 'cancel_requested' }))).toBe(NOW);
    expect(due(cancelling({ lease: { holder: 'S', until: NOW + MIN }, nextAttemptAt: NOW + 30 * SEC }))).toBe(NOW + 30 * SEC);
    expect(due(cancelling({ lease: { holder: 'S', until: NOW + MIN } }))).toBe(NOW + MIN);
    expect(due(cancelling({ lease: undefined, nextAttemptAt: NOW + 2 * MIN }))).toBe(NOW + 2 * MIN);
    expect(due(cancelling({ lease: undefined }))).toBe(NOW);
    for (const state of ['cancelled', 'finished', 'cancel_failed', 'cancel_unconfirmed'] as const) expect(due(execution({ state }))).toBeUndefined();
  });
  it("a notice due earlier wins, also once terminal; a fault backoff later than the state's moment wins", () => {
    const notice = { key: '1:chat', target: 'chat', kind: 'outcome' as const, state: 'cancelled' as const, attempts: 1, nextAt: NOW + SEC };
    expect(due(execution({ outbox: [notice, { ...notice, key: '2:chat', nextAt: NOW + 5 * SEC }] }))).toBe(NOW + SEC);
    expect(due(execution({ state: 'cancelled', outbox: [notice] }))).toBe(NOW + SEC);
    expect(due(execution({ outbox: [{ ...notice, nextAt: T0 + 50 * MIN }] }))).toBe(T0 + 48 * MIN);
    expect(T.stateDueAt(execution({ faultRetryAt: T0 + 50 * MIN }), p, NOW)).toBe(T0 + 50 * MIN);
    expect(T.stateDueAt(execution({ faultRetryAt: T0 + 48 * MIN }), p, NOW)).toBe(T0 + 48 * MIN);
    expect(T.stateDueAt(execution({ faultRetryAt: T0 + 20 * MIN }), p, NOW)).toBe(T0 + 48 * MIN);
    expect(T.stateDueAt(execution({ state: 'finished', faultRetryAt: NOW + MIN }), p, NOW)).toBeUndefined();
  });
});

describe('heartbeat fields', () => {
  const beat = (e: Execution, hb: Parameters<typeof T.applyHeartbeat>[1]) => ok(T.applyHeartbeat(e, hb, ctx(NOW)));
  it('a cost or progress not reported keeps the one known', () => {
    const known = execution({ costUsd: 5, progress: { done: 3, total: 10 }, progressHighWater: 3, observedFraction: 0.3, lastProgressAt: T0 });
    expect(beat(known, {})).toMatchObject({ costUsd: 5, progress: { done: 3, total: 10 }, progressHighWater: 3, observedFraction: 0.3, lastProgressAt: T0 });
  });
  it('the same count against a smaller total is not progress; a count without a total keeps the fraction', () => {
    const at = execution({ progress: { done: 10, total: 100 }, progressHighWater: 10, observedFraction: 0.1, lastProgressAt: T0 });
    expect(beat(at, { progress: { done: 10, total: 50 } })).toMatchObject({ progressHighWater: 10, observedFraction: 0.2, lastProgressAt: T0 });
    const counted = beat(at, { progress: { done: 12 } });
    expect(counted).toMatchObject({ progressHighWater: 12, observedFraction: 0.1, lastProgressAt: NOW });
    expect(beat(execution(), { progress: { done: 12 } })).not.toHaveProperty('observedFraction');
  });
});

describe('observe', () => {
  const read = (e: Execution, obs: T.Observation) => ok(T.observe(e, obs, ctx(NOW)));
  it('keeps the status, a new version and due time; refused once terminal', () => {
    const e = read(execution({ dueAt: T0, version: 2 }), { raw: 'RUNNING' });
    expect(e).toEqual({ ...execution({ version: 3 }), providerStatus: 'RUNNING', updatedAt: NOW, dueAt: T0 + 48 * MIN });
    expect(T.observe(execution({ state: 'finished' }), { raw: 'x' }, ctx(NOW))).toMatchObject({ ok: false, outcome: 'terminal' });
  });
  it('a fraction that is not a number is ignored', () => {
    expect(read(execution(), { raw: 'r', fraction: Number.NaN })).not.toHaveProperty('observedFraction');
  });
  it("progress from the platform: its counts when it gives them, else a percentage; never over a tracker's own counts", () => {
    expect(read(execution(), { raw: 'r', fraction: 0.25, done: 5, total: 20 }).progress).toEqual({ done: 5, total: 20 });
    expect(read(execution(), { raw: 'r', fraction: 0.25, done: 5 }).progress).toEqual({ done: 25, total: 100 });
    expect(read(execution(), { raw: 'r', fraction: 0.25, done: 5, total: 0 }).progress).toEqual({ done: 25, total: 100 });
    expect(read(execution(), { raw: 'r', fraction: 0.1234 }).progress).toEqual({ done: 12.3, total: 100 });
    const tracked = execution({ progress: { done: 3, total: 10 }, progressHighWater: 3 });
    expect(read(tracked, { raw: 'r', fraction: 0.5 }).progress).toEqual({ done: 3, total: 10 });
  });
  it("the tracker's high-water mark counts as known progress (with its total)", () => {
    const tracked = execution({ progress: { done: 3, total: 10 }, progressHighWater: 3, lastProgressAt: T0 });
    expect(read(tracked, { raw: 'r', fraction: 0.3 })).toMatchObject({ lastProgressAt: T0, observedFraction: 0.3 });
    expect(read(tracked, { raw: 'r', fraction: 0.31 })).toMatchObject({ lastProgressAt: NOW, observedFraction: 0.31 });
    // Without a total the mark is no fraction: a first reading above 0 is progress.
    const counted = execution({ progress: { done: 3 }, progressHighWater: 3, lastProgressAt: T0 });
    expect(read(counted, { raw: 'r', fraction: 0.01 }).lastProgressAt).toBe(NOW);
  });
});

describe('notices', () => {
  const warned = () => T.recordWarning(execution(), { runtime: T0 + HOUR }, actor, ctx(NOW));
  it('queued per target, keyed by version, with the reasons when there are some; due now', () => {
    const t = T.withNotices(warned(), ['chat', 'hook'], 'warning', ctx(NOW), ['runtime']);
    expect(ok(t).outbox).toEqual([
      { key: '1:chat', target: 'chat', kind: 'warning', state: 'warned', attempts: 0, nextAt: NOW, reasons: ['runtime'] },
      { key: '1:hook', target: 'hook', kind: 'warning', state: 'warned', attempts: 0, nextAt: NOW, reasons: ['runtime'] },
    ]);
    expect(ok(t).dueAt).toBe(NOW);
    expect(ok(T.withNotices(warned(), ['chat'], 'outcome', ctx(NOW), [])).outbox![0]).not.toHaveProperty('reasons');
    expect(T.withNotices(warned(), [], 'warning', ctx(NOW))).toEqual(warned());
    const refused = T.recordWarning(execution({ state: 'finished' }), { runtime: 1 }, actor, ctx(NOW));
    expect(T.withNotices(refused, ['chat'], 'warning', ctx(NOW))).toBe(refused);
  });
  it('settled: delivered ones leave (the first thread is kept), failed ones back off 15 s, 30 s, … and are audited; others wait', () => {
    const notice = (key: string, target: string, attempts = 0) => ({ key, target, kind: 'warning' as const, state: 'warned' as const, attempts, nextAt: NOW });
    const e = execution({
      state: 'warned',
      version: 5,
      threads: { old: 't0' },
      outbox: [notice('5:a', 'a'), notice('5:b', 'b'), notice('5:c', 'c', 1), notice('5:d', 'd', 4), notice('5:e', 'e')],
    });
    const t = T.settleNotices(
      e,
      [
        { key: '5:a', ok: true, thread: 'ta' },
        { key: '5:b', ok: false },
        { key: '5:c', ok: false, error: 'y'.repeat(400) },
        { key: '5:d', ok: false, error: 'gone' },
      ],
      actor,
      ctx(NOW),
    );
    const s = ok(t);
    expect(s.version).toBe(6);
    expect(s.threads).toEqual({ old: 't0', a: 'ta' });
    expect(s.outbox).toEqual([
      { ...notice('5:b', 'b', 1), nextAt: NOW + 15 * SEC, lastError: 'unknown error' },
      { ...notice('5:c', 'c', 2), nextAt: NOW + 30 * SEC, lastError: 'y'.repeat(300) },
      notice('5:e', 'e'),
    ]);
    expect(event(t)).toEqual({
      actor,
      what: 'notification failed',
      from: 'warned',
      to: 'warned',
      detail: `warning to b failed (attempt 1), retrying: unknown error; warning to c failed (attempt 2), retrying: ${'y'.repeat(300)}; warning to d failed 5 times, given up: gone`,
    });
    // A thread already known for a target is kept; all delivered: no outbox, no threads key when none.
    const done = ok(
      T.settleNotices(execution({ threads: { a: 'first' }, outbox: [notice('1:a', 'a')] }), [{ key: '1:a', ok: true, thread: 'second' }], actor, ctx(NOW)),
    );
    expect(done.threads).toEqual({ a: 'first' });
    expect(done).not.toHaveProperty('outbox');
    const quiet = ok(T.settleNotices(execution({ outbox: [notice('1:a', 'a')] }), [{ key: '1:a', ok: true }], actor, ctx(NOW)));
    expect(quiet).not.toHaveProperty('threads');
    expect(quiet).not.toHaveProperty('pendingEvent');
    expect(quiet.dueAt).toBe(T0 + 48 * MIN);
  });
  it('backoff doubles up to 15 minutes', () => {
    const n = (attempts: number) => ({ key: 'k', target: 'a', kind: 'warning' as const, state: 'warned' as const, attempts, nextAt: NOW });
    const next = (attempts: number) =>
      ok(T.settleNotices(execution({ outbox: [n(attempts)] }), [{ key: 'k', ok: false }], actor, ctx(NOW))).outbox?.[0]?.nextAt;
    expect([0, 1, 2, 3].map((a) => next(a)! - NOW)).toEqual([15 * SEC, 30 * SEC, 60 * SEC, 120 * SEC]);
    expect(next(T.NOTICE_MAX_ATTEMPTS - 1)).toBeUndefined();
  });
});
