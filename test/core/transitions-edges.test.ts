/**
 * Transitions at their edges, pure: when a run is due in each state (aftercare after a failed
 * cancel, a fault's backoff, a held lost-heartbeat cancel, approval mode), aftercare's records,
 * the re-send mark, approval's words, "Keep running", and the smaller rules of heartbeats,
 * observations, requests and claims.
 */
import { describe, expect, it } from 'vitest';
import { approvalText, breachKeys, gate, keepsOnSilence, pastHardCeiling } from '../../src/core/approval.js';
import type { Execution } from '../../src/core/model.js';
import {
  AFTERCARE_EVERY_MS,
  AFTERCARE_FOR_MS,
  applyHeartbeat,
  askApproval,
  claimCancel,
  decideAndClaim,
  keep,
  markResend,
  newExecution,
  observe,
  onlyHeartbeat,
  periodicLook,
  recordChecked,
  recordSilence,
  recordStopped,
  requestCancel,
  stateDueAt,
} from '../../src/core/transitions.js';
import { HOUR, MIN, T0, execution, policy } from '../helpers/fixtures.js';

const pol = policy({ maxRuntimeMs: HOUR, heartbeatTimeoutMs: 10 * MIN });
const ctx = (now: number, p = pol) => ({ now, policy: p, retentionMs: 30 * 24 * HOUR });
const person = { id: 'slack:U1', via: 'slack' };
const sweep = { id: 'policy:p', via: 'sweep' };
const ended = T0 + 2 * HOUR;
const failed = (over: Partial<Execution> = {}) => execution({ state: 'cancel_failed', endedAt: ended, ...over });

describe('aftercare: a run the watchdog could not stop', () => {
  it('is looked at every 5 minutes for 24 hours after it ended, from the last look; not once seen stopped', () => {
    expect(AFTERCARE_EVERY_MS).toBe(5 * MIN);
    expect(AFTERCARE_FOR_MS).toBe(24 * HOUR);
    expect(stateDueAt(failed(), pol, ended)).toBe(ended + 5 * MIN);
    expect(stateDueAt(failed({ state: 'cancel_unconfirmed' }), pol, ended)).toBe(ended + 5 * MIN);
    expect(stateDueAt(failed({ checkedAt: ended + HOUR }), pol, ended + HOUR)).toBe(ended + HOUR + 5 * MIN);
    // The last look falls exactly at the end of the 24 hours; one past it is none.
    expect(stateDueAt(failed({ checkedAt: ended + 24 * HOUR - 5 * MIN }), pol, ended)).toBe(ended + 24 * HOUR);
    expect(stateDueAt(failed({ checkedAt: ended + 24 * HOUR - 5 * MIN + 1 }), pol, ended)).toBeUndefined();
    expect(stateDueAt(failed({ stoppedAt: ended + MIN }), pol, ended)).toBeUndefined();
    expect(stateDueAt(failed({ endedAt: undefined }), pol, ended)).toBeUndefined();
    expect(stateDueAt(execution({ state: 'cancelled', endedAt: ended }), pol, ended)).toBeUndefined();
  });

  it('seen stopped: recorded with the status (audited); only once, and only for a failed or unconfirmed cancel', () => {
    const t = recordStopped(failed(), 'CANCELLED', { id: 'provider:c', via: 'sweep' }, ctx(ended + 10 * MIN));
    if (!t.ok) throw new Error('refused');
    expect(t.execution).toMatchObject({ state: 'cancel_failed', stoppedAt: ended + 10 * MIN, providerStatus: 'CANCELLED', version: 1 });
    expect(t.execution.pendingEvent).toMatchObject({ what: 'seen stopped on the platform after the failed cancel', detail: 'provider status CANCELLED' });
    expect(recordStopped(failed({ state: 'cancel_unconfirmed' }), 'done', sweep, ctx(ended)).ok).toBe(true);
    for (const e of [t.execution, execution(), execution({ state: 'cancelled' })]) {
      expect(recordStopped(e, 'x', sweep, ctx(ended))).toEqual({ ok: false, outcome: 'not_claimable', execution: e });
    }
  });

  it('still running: the look recorded (no audit event), the next one 5 minutes on; the final look (no status call) ends the looking', () => {
    const t = recordChecked(failed({ providerStatus: 'running' }), 'RUNNING', ctx(ended + 5 * MIN));
    if (!t.ok) throw new Error('refused');
    expect(t.execution).toMatchObject({
      checkedAt: ended + 5 * MIN,
      providerStatus: 'RUNNING',
      version: 1,
      updatedAt: ended + 5 * MIN,
      dueAt: ended + 10 * MIN,
    });
    expect(t.execution.pendingEvent).toBeUndefined();
    const unread = recordChecked(failed({ providerStatus: 'running' }), undefined, ctx(ended + 5 * MIN));
    expect(unread.ok && unread.execution.providerStatus).toBe('running');
    const last = recordChecked(failed(), undefined, ctx(ended + 5 * MIN), true);
    expect(last.ok && last.execution.checkedAt).toBe(ended + 24 * HOUR);
    expect(last.ok && last.execution.dueAt).toBeUndefined();
    const noEnd = recordChecked(failed({ endedAt: undefined }), undefined, ctx(ended), true);
    expect(noEnd.ok && noEnd.execution.checkedAt).toBe(ended + 24 * HOUR);
    const live = execution();
    expect(recordChecked(live, 'x', ctx(ended))).toEqual({ ok: false, outcome: 'not_claimable', execution: live });
  });
});

describe('when a live run is due', () => {
  it("a fault's backoff comes first when it is later than the state's own moment", () => {
    const e = execution({ startedAt: T0 });
    const own = stateDueAt(e, pol, T0 + MIN);
    expect(own).toBe(T0 + 8 * MIN); // the warning at 80 % of the 10m heartbeat timeout
    expect(stateDueAt({ ...e, faultRetryAt: own! + 1 }, pol, T0 + MIN)).toBe(own! + 1);
    expect(stateDueAt({ ...e, faultRetryAt: own! - 1 }, pol, T0 + MIN)).toBe(own);
    expect(stateDueAt(execution({ state: 'finished', faultRetryAt: T0 + HOUR }), pol, T0)).toBeUndefined();
  });

  it('a requested cancel: at its retry time, else now', () => {
    expect(stateDueAt(execution({ state: 'cancel_requested', nextAttemptAt: T0 + 5 * MIN }), pol, T0)).toBe(T0 + 5 * MIN);
    expect(stateDueAt(execution({ state: 'cancel_requested' }), pol, T0)).toBe(T0);
  });

  it('a held lost-heartbeat cancel waits for the hold; a runtime breach does not', () => {
    const silent = execution({ startedAt: T0, lastHeartbeatAt: T0 });
    const at = T0 + 20 * MIN;
    expect(stateDueAt(silent, pol, at)).toBe(at);
    expect(stateDueAt({ ...silent, heartbeatHeldUntil: at + 2 * MIN }, pol, at)).toBe(at + 2 * MIN);
    expect(stateDueAt({ ...silent, heartbeatHeldUntil: at - 1 }, pol, at)).toBe(at);
    expect(stateDueAt({ ...silent, heartbeatHeldUntil: T0 + 3 * HOUR }, pol, T0 + 2 * HOUR)).toBe(T0 + 2 * HOUR);
    expect([onlyHeartbeat([]), onlyHeartbeat(['heartbeat']), onlyHeartbeat(['heartbeat', 'runtime']), onlyHeartbeat(['runtime'])]).toEqual([
      false,
      true,
      false,
      false,
    ]);
  });

  it('approval mode: a run within its limits is due at its next deadline; a breach not yet asked about, now; a silence kept, at the next look', () => {
    const ask = policy({ maxRuntimeMs: HOUR, onBreach: 'approve', approveWithinMs: 30 * MIN, onSilence: 'keep', recheckAfterMs: HOUR });
    const e = execution({ startedAt: T0 });
    expect(stateDueAt(e, ask, T0 + MIN)).toBe(T0 + 48 * MIN);
    expect(stateDueAt(e, ask, T0 + HOUR + MIN)).toBe(T0 + HOUR + MIN);
    const kept = {
      ...e,
      approval: {
        askedAt: T0 + HOUR,
        until: T0 + 90 * MIN,
        reasons: ['runtime' as const],
        keys: { runtime: T0 + HOUR },
        answer: 'silence' as const,
        silence: 'keep' as const,
      },
    };
    expect(stateDueAt(kept, ask, T0 + 2 * HOUR)).toBe(T0 + 3 * HOUR);
    expect(periodicLook(kept, ask, T0 + 2 * HOUR)).toBe(true);
    // Kept by a person's answer until a time: that is no periodic look; nor is a request still waiting.
    expect(periodicLook({ ...kept, approval: { ...kept.approval, answer: 'keep' as const, keptUntil: T0 + 3 * HOUR } }, ask, T0 + 2 * HOUR)).toBe(false);
    expect(periodicLook({ ...kept, approval: { ...kept.approval, answer: undefined } }, ask, T0 + 80 * MIN)).toBe(false);
  });

  it('a periodic look (what the sweep reads the platform for, not just moves on): no deadline, a recorded dry-run, a kept breach', () => {
    const costOnly = policy({ maxCostUsd: 10, recheckAfterMs: HOUR });
    expect(periodicLook(execution({ startedAt: T0 }), costOnly, T0 + 2 * HOUR)).toBe(true);
    expect(periodicLook(execution({ startedAt: T0, state: 'warned' }), costOnly, T0 + 2 * HOUR)).toBe(true);
    // A deadline (runtime): no look; its warning or breach is acted on at its own time.
    expect(periodicLook(execution({ startedAt: T0 }), pol, T0 + MIN)).toBe(false);
    expect(periodicLook(execution({ startedAt: T0 }), pol, T0 + 50 * MIN)).toBe(false);
    const dry = policy({ maxRuntimeMs: HOUR, mode: 'dry-run', recheckAfterMs: HOUR });
    expect(periodicLook(execution({ startedAt: T0 }), dry, T0 + 2 * HOUR)).toBe(false);
    expect(periodicLook(execution({ startedAt: T0, wouldCancelAt: T0 + HOUR }), dry, T0 + 2 * HOUR)).toBe(true);
    // A breach under a cancelling policy is never a look; nor is any state but running and warned.
    expect(periodicLook(execution({ startedAt: T0, wouldCancelAt: T0 + HOUR }), pol, T0 + 2 * HOUR)).toBe(false);
    for (const state of ['cancel_requested', 'cancelling', 'cancel_failed', 'finished'] as const)
      expect(periodicLook(execution({ startedAt: T0, state }), costOnly, T0 + 2 * HOUR)).toBe(false);
  });
});

describe('approval: the words of the request and of the silence', () => {
  const ask = (onSilence: 'cancel' | 'keep') => policy({ maxRuntimeMs: HOUR, maxCostUsd: 5, onBreach: 'approve', approveWithinMs: 30 * MIN, onSilence });
  const asked = (p = ask('cancel'), reasons: Array<'runtime' | 'cost'> = ['runtime'], over: Partial<Execution> = {}) => {
    const t = askApproval(execution({ startedAt: T0, ...over }), reasons, { runtime: T0 + HOUR }, sweep, ctx(T0 + HOUR, p));
    if (!t.ok) throw new Error('refused');
    return t;
  };

  it('asked: the limits, the answer time and what silence will do; one reason is the why', () => {
    expect(asked().execution.pendingEvent).toMatchObject({
      what: 'approval asked',
      why: 'runtime',
      detail: 'limits breached: runtime; no answer within 30m → cancelled',
    });
    const two = asked(ask('keep'), ['runtime', 'cost']).execution.pendingEvent;
    expect(two).toMatchObject({ detail: 'limits breached: runtime, cost; no answer within 30m → kept running' });
    expect(two).not.toHaveProperty('why');
    expect(asked(ask('cancel'), ['runtime'], { state: 'warned' }).execution.state).toBe('warned');
    const requested = execution({ state: 'cancel_requested' });
    expect(askApproval(requested, ['runtime'], {}, sweep, ctx(T0))).toEqual({ ok: false, outcome: 'not_claimable', execution: requested });
  });

  it('the silence: recorded as it will go — kept, cancelled, or cancelled because the request never went out', () => {
    const at = T0 + 90 * MIN;
    const keepP = ask('keep');
    const kept = recordSilence(asked(keepP).execution, sweep, ctx(at, keepP));
    expect(kept.ok && kept.execution.pendingEvent).toMatchObject({
      what: 'approval unanswered',
      why: 'runtime',
      detail: 'no answer within 30m: kept running (onSilence: keep)',
    });
    expect(kept.ok && kept.execution.approval).toMatchObject({ answer: 'silence', by: 'policy:p', at, silence: 'keep' });
    const cancelled = recordSilence(asked().execution, sweep, ctx(at));
    expect(cancelled.ok && cancelled.execution.pendingEvent?.detail).toBe('no answer within 30m: cancelling (onSilence: cancel)');
    expect(cancelled.ok && cancelled.execution.approval?.silence).toBe('cancel');
    const queued = { ...asked(keepP).execution, outbox: [{ key: 'k', target: 't', kind: 'approval' as const, attempts: 0, nextAt: at }] };
    const undelivered = recordSilence(queued as Execution, sweep, ctx(at, keepP));
    expect(undelivered.ok && undelivered.execution.pendingEvent?.detail).toBe('no answer within 30m: cancelling: the request was never delivered');
    const two = recordSilence(asked(ask('cancel'), ['runtime', 'cost']).execution, sweep, ctx(at));
    expect(two.ok && two.execution.pendingEvent).not.toHaveProperty('why');
    // Nothing to record: no request, an answered one, before its time, a run no longer live.
    const none = execution();
    const answered = { ...asked().execution, approval: { ...asked().execution.approval!, answer: 'keep' as const } };
    const early = asked().execution;
    const gone = { ...asked().execution, state: 'cancelling' as const };
    expect(recordSilence(none, sweep, ctx(at)).ok).toBe(false);
    expect(recordSilence(answered, sweep, ctx(at)).ok).toBe(false);
    expect(recordSilence(early, sweep, ctx(T0 + HOUR + 29 * MIN)).ok).toBe(false);
    expect(recordSilence(early, sweep, ctx(T0 + 90 * MIN)).ok).toBe(true);
    expect(recordSilence(gone, sweep, ctx(at))).toEqual({ ok: false, outcome: 'not_claimable', execution: gone });
  });
});

describe('"Keep running"', () => {
  const p = policy({ maxRuntimeMs: HOUR, maxExtensionMs: 2 * HOUR });
  it('within maxExtension: the whole of it, said plainly; past it: capped, and said so', () => {
    const e = execution({ startedAt: T0 });
    const whole = keep(e, HOUR, person, ctx(T0 + HOUR, p));
    expect(whole.ok && whole.execution.pendingEvent).toMatchObject({ what: 'kept running for 1h', detail: 'keep running' });
    expect(whole.ok && whole.execution.approval).toBeUndefined();
    const capped = keep(e, 3 * HOUR, person, ctx(T0 + HOUR, p));
    expect(capped.ok && capped.execution.pendingEvent).toMatchObject({ what: 'kept running for 2h', detail: 'keep running (capped by maxExtension 2h)' });
  });

  it('refused on an ended run and while a cancel is in progress', () => {
    const done = execution({ state: 'cancelled' });
    expect(keep(done, HOUR, person, ctx(T0, p))).toMatchObject({ ok: false, outcome: 'terminal' });
    const busy = execution({ state: 'cancelling' });
    expect(keep(busy, HOUR, person, ctx(T0, p))).toEqual({ ok: false, outcome: 'cancel_in_progress', execution: busy });
  });
});

describe('the re-send mark', () => {
  it("only the claim's holder marks it, while cancelling", () => {
    const mine = execution({ state: 'cancelling', lease: { holder: 'a', until: T0 + MIN }, version: 3 });
    const t = markResend(mine, 'a', ctx(T0 + 10));
    expect(t).toEqual({ ok: true, execution: { ...mine, cancelResentAt: T0 + 10, version: 4, updatedAt: T0 + 10 } });
    expect(markResend(mine, 'b', ctx(T0))).toEqual({ ok: false, outcome: 'lease_lost', execution: mine });
    const requested = execution({ state: 'cancel_requested', lease: { holder: 'a', until: T0 + MIN } });
    expect(markResend(requested, 'a', ctx(T0))).toEqual({ ok: false, outcome: 'lease_lost', execution: requested });
    const unleased = execution({ state: 'cancelling' });
    expect(markResend(unleased, 'a', ctx(T0))).toEqual({ ok: false, outcome: 'lease_lost', execution: unleased });
    expect(markResend(execution({ state: 'cancelled' }), 'a', ctx(T0))).toMatchObject({ ok: false, outcome: 'terminal' });
  });
});

describe('smaller rules', () => {
  it('a discovered run says so; a tracked one carries no source', () => {
    const base = { connection: 'c', provider: 'catalyzed', externalId: 'x', policy: 'p', actor: sweep };
    expect(newExecution({ ...base, source: 'discovered' }, ctx(T0)).source).toBe('discovered');
    expect(newExecution(base, ctx(T0))).not.toHaveProperty('source');
  });

  it('a heartbeat with as many done but a new total takes the new total', () => {
    const e = execution({ progress: { done: 5, total: 10 }, progressHighWater: 5 });
    const t = applyHeartbeat(e, { progress: { done: 5, total: 20 } }, ctx(T0 + MIN));
    expect(t.ok && t.execution.progress).toEqual({ done: 5, total: 20 });
  });

  it("a person's cancel answers a waiting request, not an answered one, and makes none", () => {
    const waiting = execution({ approval: { askedAt: T0, until: T0 + HOUR, reasons: ['runtime'], keys: {} } });
    const a = requestCancel(waiting, ['manual'], person, ctx(T0 + MIN));
    expect(a.ok && a.execution.approval).toMatchObject({ answer: 'cancel', by: 'slack:U1', at: T0 + MIN });
    const kept = execution({ approval: { askedAt: T0, until: T0 + HOUR, reasons: ['runtime'], keys: {}, answer: 'keep', by: 'slack:U2', at: T0 } });
    const b = requestCancel(kept, ['manual'], person, ctx(T0 + MIN));
    expect(b.ok && b.execution.approval).toMatchObject({ answer: 'keep', by: 'slack:U2' });
    const c = requestCancel(execution(), ['manual'], person, ctx(T0 + MIN));
    expect(c.ok && c.execution.approval).toBeUndefined();
  });

  it("a lease binds only while cancelling: a requested cancel with an old lease is claimed; a person's request is claimed however the run stands", () => {
    const input = { holder: 'b', leaseMs: MIN, actor: sweep };
    const old = execution({ state: 'cancel_requested', stopReasons: ['manual'], lease: { holder: 'a', until: T0 + HOUR } });
    expect(claimCancel(old, input, ctx(T0)).ok).toBe(true);
    const healthy = execution({ state: 'cancel_requested', stopReasons: ['manual'], startedAt: T0 });
    const t = decideAndClaim(healthy, input, ctx(T0 + MIN));
    expect(t.ok && t.execution).toMatchObject({ state: 'cancelling', lease: { holder: 'b' }, stopReasons: ['manual'] });
  });

  it('a first observation sets the progress shown: its counts, else the fraction as a percentage; never over a count already kept', () => {
    const counted = observe(execution(), { raw: 'running', fraction: 0.25, done: 1, total: 4 }, ctx(T0));
    expect(counted.ok && counted.execution.progress).toEqual({ done: 1, total: 4 });
    const fraction = observe(execution(), { raw: 'running', fraction: 0.123 }, ctx(T0));
    expect(fraction.ok && fraction.execution.progress).toEqual({ done: 12.3, total: 100 });
    const noTotal = observe(execution(), { raw: 'running', fraction: 0.5, done: 2 }, ctx(T0));
    expect(noTotal.ok && noTotal.execution.progress).toEqual({ done: 50, total: 100 });
    const kept = observe(execution({ progress: { done: 3, total: 10 }, progressHighWater: 3 }), { raw: 'running', fraction: 0.5, done: 5, total: 10 }, ctx(T0));
    expect(kept.ok && kept.execution.progress).toEqual({ done: 3, total: 10 });
  });
});

describe('approval: the gate at its edges, and a request in one line', () => {
  const ask = policy({ maxRuntimeMs: HOUR, maxCostUsd: 5, onBreach: 'approve', approveWithinMs: 30 * MIN, onSilence: 'cancel', hardMaxCostUsd: 10 });
  const base = { askedAt: T0 + HOUR, until: T0 + 90 * MIN, reasons: ['runtime' as const], keys: { runtime: T0 + HOUR } };

  it('the ceiling needs a cost: a policy without one, or a run with no cost known, is never past it; a cost breach is keyed by its limit', () => {
    expect(pastHardCeiling(execution({ costUsd: 1_000 }), { ...ask, hardMaxCostUsd: undefined }, T0)).toBe(false);
    expect(pastHardCeiling(execution(), ask, T0)).toBe(false);
    expect(pastHardCeiling(execution({ costUsd: 10 }), ask, T0)).toBe(true);
    expect(pastHardCeiling(execution({ costUsd: 9.99 }), ask, T0)).toBe(false);
    expect(breachKeys(execution({ startedAt: T0, costUsd: 6 }), ask, ['runtime', 'cost'], T0 + 2 * HOUR)).toEqual({ runtime: T0 + HOUR, cost: 5 });
  });

  it('a keep without its end asks again; a request still queued is not a silence to keep', () => {
    const e = execution({ startedAt: T0, approval: { ...base, answer: 'keep', by: 'slack:U1', at: T0 + HOUR } });
    expect(gate(e, ask, ['runtime'], T0 + HOUR + MIN)).toEqual({ kind: 'ask' });
    const keepP = { ...ask, onSilence: 'keep' as const };
    const queued = execution({ outbox: [{ key: 'k', target: 't', kind: 'warning', attempts: 0, nextAt: T0 }] as never });
    expect(keepsOnSilence(queued, keepP)).toBe(true);
    expect(keepsOnSilence(execution(), keepP)).toBe(true);
    expect(keepsOnSilence({ ...queued, outbox: [{ ...queued.outbox![0]!, kind: 'approval' }] }, keepP)).toBe(false);
  });

  it('approvalText: waiting, kept, cancelled, unanswered (kept or cancelled); who, or "?" when unknown', () => {
    const iso = (t: number | undefined) => (t === undefined ? '-' : `t+${(t - T0) / MIN}m`);
    expect(approvalText(base, iso)).toBe('asked t+60m (runtime), waiting for an answer until t+90m');
    expect(approvalText({ ...base, reasons: ['runtime', 'cost'], answer: 'keep', by: 'slack:U1', at: T0 + 70 * MIN, keptUntil: T0 + 130 * MIN }, iso)).toBe(
      'asked t+60m (runtime, cost): kept running by slack:U1 at t+70m until t+130m',
    );
    expect(approvalText({ ...base, answer: 'cancel', at: T0 + 70 * MIN }, iso)).toBe('asked t+60m (runtime): cancelled by ? at t+70m');
    expect(approvalText({ ...base, answer: 'keep', at: T0 + 70 * MIN }, iso)).toBe('asked t+60m (runtime): kept running by ? at t+70m until -');
    expect(approvalText({ ...base, answer: 'cancel', by: 'slack:U2', at: T0 + 70 * MIN }, iso)).toBe('asked t+60m (runtime): cancelled by slack:U2 at t+70m');
    expect(approvalText({ ...base, answer: 'silence', silence: 'keep' }, iso)).toBe('asked t+60m (runtime): no answer by t+90m: kept running (onSilence)');
    expect(approvalText({ ...base, answer: 'silence', silence: 'cancel' }, iso)).toBe('asked t+60m (runtime): no answer by t+90m: cancelled (onSilence)');
  });
});
