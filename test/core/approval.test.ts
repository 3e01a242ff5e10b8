/** Approval mode, pure: which way a breach goes (core/approval.ts) and the transitions that answer it. */
import { describe, expect, it } from 'vitest';
import { breachKeys, gate } from '../../src/core/approval.js';
import type { Execution } from '../../src/core/model.js';
import { evaluate } from '../../src/core/policy.js';
import { applyHeartbeat, askApproval, computeDueAt, decideAndClaim, extend, keep, recordSilence, requestCancel } from '../../src/core/transitions.js';
import { HOUR, MIN, T0, execution, policy } from '../helpers/fixtures.js';

const person = { id: 'slack:U1', via: 'slack' };
const pol = policy({
  maxRuntimeMs: HOUR,
  maxCostUsd: 50,
  maxExtensionMs: 90 * MIN,
  onBreach: 'approve',
  approveWithinMs: 30 * MIN,
  onSilence: 'cancel',
  hardMaxCostUsd: 100,
});
const ctx = (now: number, p = pol) => ({ now, policy: p, retentionMs: 30 * 24 * HOUR });
const claim = (e: Execution, now: number, p = pol) =>
  decideAndClaim(e, { holder: 'sweep-a', leaseMs: 2 * MIN, actor: { id: 'policy:p', via: 'sweep' } }, ctx(now, p));

/** Tracked at T0 under `p`, breached (runtime) at T0 + 1h, asked at `at`. */
function asked(at = T0 + HOUR + MIN, p = pol, over: Partial<Execution> = {}): Execution {
  const e = execution({ startedAt: T0, trackedAt: T0, ...over });
  const d = evaluate(e, p, at);
  const t = askApproval(e, d.reasons, breachKeys(e, p, d.reasons, at), { id: 'policy:p', via: 'sweep' }, ctx(at, p));
  if (!t.ok) throw new Error('not asked');
  return t.execution;
}

describe('the gate: which way a breach goes', () => {
  const breachedAt = T0 + HOUR + MIN;
  it('a policy that cancels at a breach cancels; approval mode asks first', () => {
    const e = execution({ startedAt: T0, trackedAt: T0 });
    expect(gate(e, { ...pol, onBreach: 'cancel' }, ['runtime'], breachedAt)).toEqual({ kind: 'cancel' });
    expect(gate(e, pol, ['runtime'], breachedAt)).toEqual({ kind: 'ask' });
  });

  it('asked: waits until approveWithin is up, then applies onSilence (cancel, or keep)', () => {
    const e = asked(breachedAt);
    expect(e.approval).toMatchObject({ askedAt: breachedAt, until: breachedAt + 30 * MIN, reasons: ['runtime'], keys: { runtime: T0 + HOUR } });
    expect(gate(e, pol, ['runtime'], breachedAt + 29 * MIN)).toEqual({ kind: 'wait', until: breachedAt + 30 * MIN });
    expect(gate(e, pol, ['runtime'], breachedAt + 30 * MIN)).toEqual({ kind: 'cancel', why: 'silence' });
    expect(gate(e, { ...pol, onSilence: 'keep' }, ['runtime'], breachedAt + 30 * MIN)).toEqual({ kind: 'silence_keep' });
  });

  it('the hard cost ceiling cancels without asking, whatever the request says', () => {
    const e = { ...asked(breachedAt), costUsd: 100 };
    expect(gate(e, pol, ['runtime', 'cost'], breachedAt + MIN)).toEqual({ kind: 'cancel', why: 'hard_ceiling' });
    expect(gate({ ...e, costUsd: 99.99 }, pol, ['runtime', 'cost'], breachedAt + MIN).kind).toBe('ask'); // cost is a new limit breached: asked again
  });

  it('one request per breach: a limit breached anew (a new deadline) or a new limit asks again; the same breach does not', () => {
    const e = asked(breachedAt);
    // The same runtime breach, a minute on: covered.
    expect(gate(e, pol, ['runtime'], breachedAt + MIN).kind).toBe('wait');
    // Extended by someone (a new runtime deadline), breached again later: a new request.
    const x = extend(e, 10 * MIN, person, ctx(breachedAt + MIN));
    expect(x.ok && gate(x.execution, pol, ['runtime'], T0 + HOUR + 11 * MIN).kind).toBe('ask');
    // Cost breached as well: a new request.
    expect(gate({ ...e, costUsd: 60 }, pol, ['runtime', 'cost'], breachedAt + MIN).kind).toBe('ask');
  });

  it('a cost breach asked about stays the same breach while heartbeats report more cost (below the ceiling)', () => {
    const p = { ...pol, maxRuntimeMs: 10 * HOUR };
    const e = asked(T0 + MIN, p, { costUsd: 55 });
    expect(e.approval?.keys).toEqual({ cost: 50 });
    const hb = applyHeartbeat(e, { costUsd: 70 }, ctx(T0 + 2 * MIN, p));
    expect(hb.ok && gate(hb.execution, p, ['cost'], T0 + 2 * MIN).kind).toBe('wait');
  });
});

describe('the transitions of an approval', () => {
  const at = T0 + HOUR + MIN;
  it('asking keeps the run live (warned), audited, and due when the answer time is up', () => {
    const e = asked(at);
    expect(e.state).toBe('warned');
    expect(e.dueAt).toBe(at + 30 * MIN);
    expect(e.pendingEvent).toMatchObject({ what: 'approval asked', why: 'runtime', detail: 'limits breached: runtime; no answer within 30m → cancelled' });
  });

  it('no claim while the request waits; after the silence the claim goes through', () => {
    const e = asked(at);
    expect(claim(e, at + 29 * MIN)).toMatchObject({ ok: false, outcome: 'not_claimable' });
    const silent = recordSilence(e, { id: 'policy:p', via: 'sweep' }, ctx(at + 30 * MIN));
    expect(silent).toMatchObject({ ok: true, execution: { approval: { answer: 'silence', by: 'policy:p' }, pendingEvent: { what: 'approval unanswered' } } });
    expect(silent.ok && claim(silent.execution, at + 30 * MIN)).toMatchObject({ ok: true, execution: { state: 'cancelling', stopReasons: ['runtime'] } });
  });

  it('a silence is not recorded before the answer time is up, nor twice', () => {
    const e = asked(at);
    expect(recordSilence(e, person, ctx(at + 29 * MIN)).ok).toBe(false);
    const once = recordSilence(e, person, ctx(at + 30 * MIN));
    expect(once.ok && recordSilence(once.execution, person, ctx(at + 31 * MIN)).ok).toBe(false);
  });

  it('keep: an extension capped by what is left of maxExtension, answering the request; nothing is asked or cancelled before it runs out', () => {
    const e = asked(at);
    const k = keep(e, HOUR, person, ctx(at + 5 * MIN));
    if (!k.ok) throw new Error('refused');
    expect(k.execution.extensions.at(-1)).toMatchObject({ ms: HOUR, by: 'slack:U1' });
    expect(k.execution.approval).toMatchObject({ answer: 'keep', by: 'slack:U1', keptUntil: at + 65 * MIN });
    expect(k.execution.pendingEvent).toMatchObject({ what: 'kept running for 1h', actor: person });
    expect(claim(k.execution, at + 40 * MIN)).toMatchObject({ ok: false, outcome: 'not_claimable' });
    // The second keep gets the 30m left of the 90m maximum, and says so.
    const again = keep(k.execution, HOUR, person, ctx(at + 6 * MIN));
    expect(again).toMatchObject({
      ok: true,
      execution: { pendingEvent: { what: 'kept running for 30m', detail: 'keep running (capped by maxExtension 1h30m)' } },
    });
    // Nothing left: refused, and the run is unchanged.
    const none = again.ok ? keep(again.execution, HOUR, person, ctx(at + 7 * MIN)) : again;
    expect(none).toMatchObject({ ok: false, outcome: 'refused', message: expect.stringMatching(/maxExtension 1h30m of policy .* is used up/) });
  });

  it('a kept cost breach is asked about again when the keep runs out', () => {
    const p = { ...pol, maxRuntimeMs: 10 * HOUR };
    const e = asked(T0 + MIN, p, { costUsd: 55 });
    const k = keep(e, HOUR, person, ctx(T0 + 2 * MIN, p));
    if (!k.ok) throw new Error('refused');
    expect(gate(k.execution, p, ['cost'], T0 + 61 * MIN)).toEqual({ kind: 'wait', until: T0 + 62 * MIN });
    expect(computeDueAt(k.execution, p, T0 + 3 * MIN)).toBe(T0 + 62 * MIN);
    expect(gate(k.execution, p, ['cost'], T0 + 62 * MIN).kind).toBe('ask');
  });

  it("a person's cancel answers a waiting request; the policy's own request does not", () => {
    const e = asked(at);
    expect(requestCancel(e, ['manual'], person, ctx(at + MIN))).toMatchObject({ ok: true, execution: { approval: { answer: 'cancel', by: 'slack:U1' } } });
    const byPolicy = requestCancel(e, ['runtime'], { id: 'policy:p', via: 'sweep' }, ctx(at + MIN));
    expect(byPolicy.ok && byPolicy.execution.approval?.answer).toBeUndefined();
  });

  it('kept after silence (onSilence: keep): looked at again after recheckAfter, not cancelled', () => {
    const p = { ...pol, onSilence: 'keep' as const };
    const e = asked(at, p);
    const s = recordSilence(e, { id: 'policy:p', via: 'sweep' }, ctx(at + 30 * MIN, p));
    if (!s.ok) throw new Error('refused');
    expect(s.execution.pendingEvent?.detail).toBe('no answer within 30m: kept running (onSilence: keep)');
    expect(s.execution.approval).toMatchObject({ answer: 'silence', silence: 'keep' });
    expect(s.execution.dueAt).toBe(at + 30 * MIN + p.recheckAfterMs);
    expect(claim(s.execution, at + 2 * HOUR, p)).toMatchObject({ ok: false, outcome: 'not_claimable' });
  });

  it('a request never delivered (its notice still queued) reached nobody: the silence cancels even under onSilence: keep', () => {
    const p = { ...pol, onSilence: 'keep' as const };
    const queued = { key: '3:chat', target: 'chat', kind: 'approval' as const, state: 'warned' as const, attempts: 4, nextAt: at + 31 * MIN };
    const e = { ...asked(at, p), outbox: [queued] };
    expect(gate(e, p, ['runtime'], at + 30 * MIN)).toEqual({ kind: 'cancel', why: 'silence' });
    const s = recordSilence(e, { id: 'policy:p', via: 'sweep' }, ctx(at + 30 * MIN, p));
    if (!s.ok) throw new Error('refused');
    expect(s.execution.approval).toMatchObject({ answer: 'silence', silence: 'cancel' });
    expect(s.execution.pendingEvent?.detail).toBe('no answer within 30m: cancelling: the request was never delivered');
    expect(gate(s.execution, p, ['runtime'], at + 31 * MIN)).toEqual({ kind: 'cancel', why: 'silence' });
    expect(claim(s.execution, at + 31 * MIN, p)).toMatchObject({ ok: true, execution: { state: 'cancelling' } });
  });

  it('dry-run keeps its own rule: the would-cancel is due, not a request', () => {
    const dry = { ...pol, mode: 'dry-run' as const };
    const e = execution({ startedAt: T0, trackedAt: T0 });
    expect(computeDueAt(e, dry, at)).toBe(at);
    expect(claim(e, at, dry)).toMatchObject({ ok: false, outcome: 'not_claimable' });
  });
});
