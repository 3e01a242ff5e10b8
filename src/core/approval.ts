/**
 * Approval mode (a policy's `onBreach: approve`): at a breach the run is not cancelled; its
 * policy's notify targets are asked (Cancel now / Keep running), and nobody answering within
 * `approveWithin` applies `onSilence`. Pure: which way a breach goes now, from the execution's
 * `approval` record. One request per breach episode: each breached limit's deadline (or, for
 * cost, the limit) is its key, so a new deadline (an extension, progress) asks again.
 */
import type { Approval, Execution, Reason } from './model.js';
import { type Policy, currentCost, describeLimits } from './policy.js';

export type Gate =
  /** Cancel now: no approval mode, the hard cost ceiling, a person's cancel, or silence under onSilence: cancel. */
  | { kind: 'cancel'; why?: 'hard_ceiling' | 'silence' }
  /** Ask people now (no request covers this breach, or a keep ran out). */
  | { kind: 'ask' }
  /** Asked and waiting for an answer, or kept for a while: look again at `until`. */
  | { kind: 'wait'; until: number }
  /** Nobody answered in time and the policy keeps the run: record that. */
  | { kind: 'silence_keep' }
  /** Kept after silence: no cancel for this breach (a new breach asks again). */
  | { kind: 'kept' };

/** Each breached limit's key: its deadline (time limits) or the limit (cost). */
export function breachKeys(e: Execution, policy: Policy, reasons: readonly Reason[], now: number): Partial<Record<Reason, number>> {
  const keys: Partial<Record<Reason, number>> = {};
  for (const l of describeLimits(e, policy, now)) if (reasons.includes(l.reason)) keys[l.reason] = l.reason === 'cost' ? l.limit : (l.deadline ?? l.limit);
  return keys;
}

/** Does this request cover the breach: every limit breached now was asked about, with the same deadline? */
export function covers(a: Approval, keys: Partial<Record<Reason, number>>): boolean {
  for (const [reason, key] of Object.entries(keys) as Array<[Reason, number]>) if (a.keys[reason] !== key) return false;
  return true;
}

/** Past the hard ceiling: the cost (reported, or estimated by the hour) reached `hardMaxCostUsd`. */
export function pastHardCeiling(e: Execution, policy: Policy, now: number): boolean {
  if (policy.hardMaxCostUsd === undefined) return false;
  const cost = currentCost(e, policy, now);
  return cost !== undefined && cost >= policy.hardMaxCostUsd;
}

/**
 * Silence keeps the run only under `onSilence: keep`, and only when the request went out: one
 * still undelivered (chat down) reached nobody, so no silence can be read into it — the
 * policy's cancel applies (fail closed).
 */
export function keepsOnSilence(e: Execution, policy: Policy): boolean {
  return policy.onSilence === 'keep' && !(e.outbox ?? []).some((n) => n.kind === 'approval');
}

/** Which way a breach of `reasons` goes now (a live run whose policy decided `cancel`, not dry-run). */
export function gate(e: Execution, policy: Policy, reasons: readonly Reason[], now: number): Gate {
  if (policy.onBreach !== 'approve') return { kind: 'cancel' };
  if (pastHardCeiling(e, policy, now)) return { kind: 'cancel', why: 'hard_ceiling' };
  const a = e.approval;
  if (a === undefined || !covers(a, breachKeys(e, policy, reasons, now))) return { kind: 'ask' };
  switch (a.answer) {
    case undefined:
      if (now < a.until) return { kind: 'wait', until: a.until };
      return keepsOnSilence(e, policy) ? { kind: 'silence_keep' } : { kind: 'cancel', why: 'silence' };
    case 'keep':
      return a.keptUntil !== undefined && now < a.keptUntil ? { kind: 'wait', until: a.keptUntil } : { kind: 'ask' };
    case 'silence':
      return a.silence === 'keep' ? { kind: 'kept' } : { kind: 'cancel', why: 'silence' };
    case 'cancel':
      // A person's cancel that was then withdrawn (an extension): ask again.
      return { kind: 'ask' };
  }
}

/** An approval request in one line: asked about what, and its answer (or until when it waits). */
export function approvalText(a: Approval, iso: (t: number | undefined) => string): string {
  const asked = `asked ${iso(a.askedAt)} (${a.reasons.join(', ')})`;
  switch (a.answer) {
    case undefined:
      return `${asked}, waiting for an answer until ${iso(a.until)}`;
    case 'keep':
      return `${asked}: kept running by ${a.by ?? '?'} at ${iso(a.at)} until ${iso(a.keptUntil)}`;
    case 'cancel':
      return `${asked}: cancelled by ${a.by ?? '?'} at ${iso(a.at)}`;
    case 'silence':
      return `${asked}: no answer by ${iso(a.until)}: ${a.silence === 'keep' ? 'kept running' : 'cancelled'} (onSilence)`;
  }
}
