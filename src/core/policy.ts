/**
 * The policy engine: a pure function of (execution, policy, now). No I/O, no clock.
 *
 * Time limits (runtime, stall, heartbeat) are deadlines; cost is a threshold on the
 * reported cumulative cost, or on `costPerHourUsd` × elapsed when nothing was reported.
 * Extensions add to the runtime limit (capped by `maxExtension`) and also grant a grace
 * period: no time limit fires before `at + ms` of the latest extension. Cost is never
 * extended: money spent is spent.
 */
import { formatDuration } from './duration.js';
import type { Execution, LimitsMs, Reason } from './model.js';

export type PolicyMode = 'enforce' | 'dry-run';

/** A policy compiled from config: durations in ms, defaults applied. */
export interface Policy {
  readonly name: string;
  readonly maxRuntimeMs?: number;
  readonly stallAfterMs?: number;
  readonly heartbeatTimeoutMs?: number;
  readonly maxCostUsd?: number;
  readonly costPerHourUsd?: number;
  /** Fraction of a limit at which to warn, in (0, 1]. */
  readonly warnAt: number;
  readonly mode: PolicyMode;
  readonly maxExtensionMs: number;
  /** Longest snooze one request may ask for (default: maxExtensionMs). */
  readonly maxSnoozeMs?: number;
  /** When no limit gives a deadline (cost-only policies), look again after this long. */
  readonly recheckAfterMs: number;
  /** At a breach: cancel (default), or ask people first (core/approval.ts). */
  readonly onBreach?: 'cancel' | 'approve';
  /** approve: how long people have to answer. */
  readonly approveWithinMs?: number;
  /** approve: what happens when nobody answers in time (default cancel). */
  readonly onSilence?: 'cancel' | 'keep';
  /** approve: at or past this cost no approval is asked: the run is cancelled. */
  readonly hardMaxCostUsd?: number;
}

export type Action = 'none' | 'warn' | 'cancel';

export interface Decision {
  action: Action;
  /** Every limit breached now (action 'cancel'). */
  reasons: Reason[];
  /** Limits to warn about now: crossed `warnAt`, not yet warned for this deadline. */
  warnings: Reason[];
  /** Keys to store in `execution.warned` once the warnings went out. */
  warnKeys: Partial<Record<Reason, number>>;
  /** The next moment this execution needs attention. */
  dueAt: number;
  /** No limit gives a deadline: `dueAt` is only the periodic look (`recheckAfterMs`). */
  recheck: boolean;
  dryRun: boolean;
}

export interface EffectiveLimits {
  maxRuntimeMs?: number;
  stallAfterMs?: number;
  heartbeatTimeoutMs?: number;
  maxCostUsd?: number;
}

const minDefined = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

export function effectiveLimits(policy: Policy, limits: LimitsMs): EffectiveLimits {
  return {
    maxRuntimeMs: minDefined(policy.maxRuntimeMs, limits.maxRuntimeMs),
    stallAfterMs: minDefined(policy.stallAfterMs, limits.stallAfterMs),
    heartbeatTimeoutMs: minDefined(policy.heartbeatTimeoutMs, limits.heartbeatTimeoutMs),
    maxCostUsd: minDefined(policy.maxCostUsd, limits.maxCostUsd),
  };
}

const LIMIT_KEYS = ['maxRuntimeMs', 'stallAfterMs', 'heartbeatTimeoutMs', 'maxCostUsd'] as const;

/**
 * Per-execution limits may only tighten a policy. Returns one message per loosening
 * attempt (empty when all are tighter or equal).
 */
export function looseningErrors(policy: Policy, limits: LimitsMs): string[] {
  const errors: string[] = [];
  for (const key of LIMIT_KEYS) {
    const asked = limits[key];
    const allowed = policy[key];
    if (asked !== undefined && allowed !== undefined && asked > allowed) {
      const show = (v: number) => (key === 'maxCostUsd' ? `$${v}` : formatDuration(v));
      errors.push(
        `${key.replace(/Ms$/, '')} ${show(asked)} is looser than policy "${policy.name}" allows (${show(allowed)}); per-execution limits may only tighten`,
      );
    }
  }
  return errors;
}

/**
 * Why `named` is looser than `base` (empty: at least as strict): every limit `base` sets,
 * `named` sets no higher; it enforces where `base` enforces; it extends no further. What a
 * scoped tracking key may name instead of the policy the config would match for its run.
 */
export function looserThan(named: Policy, base: Policy): string[] {
  const out: string[] = [];
  for (const key of LIMIT_KEYS) {
    const b = base[key];
    const n = named[key];
    if (b !== undefined && (n === undefined || n > b)) out.push(key.replace(/Ms$/, ''));
  }
  if (base.mode === 'enforce' && named.mode !== 'enforce') out.push('mode');
  if (named.maxExtensionMs > base.maxExtensionMs) out.push('maxExtension');
  return out;
}

/** Runtime is counted from the earlier of the reported start and our own tracking time (clock skew). */
export const effectiveStart = (e: Execution): number => Math.min(e.startedAt, e.trackedAt);

export function totalExtensionMs(e: Execution): number {
  let total = 0;
  for (const x of e.extensions) total += x.ms;
  return total;
}

function graceUntil(e: Execution): number {
  let until = -Infinity;
  for (const x of e.extensions) until = Math.max(until, x.at + x.ms);
  return until;
}

/**
 * When the earliest of the breached limits was crossed: a time limit's deadline; a cost
 * estimated by the hour, the moment the estimate reached the limit; a reported cost, the
 * heartbeat that reported it (the last one). For BreachToCancelMs: detection to action.
 */
export function breachAt(e: Execution, policy: Policy, reasons: readonly Reason[], now: number): number | undefined {
  let at: number | undefined;
  const take = (t: number | undefined) => {
    if (t !== undefined && (at === undefined || t < at)) at = t;
  };
  for (const l of describeLimits(e, policy, now)) {
    if (!reasons.includes(l.reason)) continue;
    if (l.reason !== 'cost') take(l.deadline);
    else if (e.costUsd !== undefined) take(e.lastHeartbeatAt ?? now);
    else if (policy.costPerHourUsd !== undefined && policy.costPerHourUsd > 0) take(effectiveStart(e) + (l.limit / policy.costPerHourUsd) * 3_600_000);
  }
  return at;
}

/** Cost used for the cost limit: the reported one, else the configured hourly estimate. */
export function currentCost(e: Execution, policy: Policy, now: number): number | undefined {
  if (e.costUsd !== undefined) return e.costUsd;
  if (policy.costPerHourUsd === undefined) return undefined;
  return (policy.costPerHourUsd * Math.max(0, now - effectiveStart(e))) / 3_600_000;
}

export interface LimitStatus {
  reason: Reason;
  /** Limit value: ms for time limits, USD for cost. */
  limit: number;
  /** Used so far: ms or USD. */
  used: number;
  /** When the limit is (or was) breached, when predictable. */
  deadline?: number;
}

/** The state of each limit, for people (CLI, chat) rather than for the hot path. */
export function describeLimits(e: Execution, policy: Policy, now: number): LimitStatus[] {
  const lim = effectiveLimits(policy, e.limits);
  const start = effectiveStart(e);
  const grace = graceUntil(e);
  const out: LimitStatus[] = [];
  if (lim.maxRuntimeMs !== undefined) {
    const limit = lim.maxRuntimeMs + totalExtensionMs(e);
    out.push({ reason: 'runtime', limit, used: Math.max(0, now - start), deadline: start + limit });
  }
  if (lim.stallAfterMs !== undefined) {
    const ref = e.lastProgressAt ?? start;
    out.push({ reason: 'stall', limit: lim.stallAfterMs, used: Math.max(0, now - ref), deadline: Math.max(ref + lim.stallAfterMs, grace) });
  }
  if (lim.heartbeatTimeoutMs !== undefined && e.source !== 'discovered') {
    const ref = e.lastHeartbeatAt ?? start;
    out.push({ reason: 'heartbeat', limit: lim.heartbeatTimeoutMs, used: Math.max(0, now - ref), deadline: Math.max(ref + lim.heartbeatTimeoutMs, grace) });
  }
  if (lim.maxCostUsd !== undefined) {
    out.push({ reason: 'cost', limit: lim.maxCostUsd, used: currentCost(e, policy, now) ?? 0 });
  }
  return out;
}

/**
 * Evaluate one live execution. Hot path (≥ 1M/s): plain arithmetic, no closures.
 * For each limit: breached → cancel; past warnAt and not yet warned for this very
 * deadline → warn; otherwise the limit contributes its next moment to `dueAt`.
 */
export function evaluate(e: Execution, policy: Policy, now: number): Decision {
  const warnAt = policy.warnAt;
  const start = e.startedAt < e.trackedAt ? e.startedAt : e.trackedAt;
  const reasons: Reason[] = [];
  const warnings: Reason[] = [];
  const warnKeys: Partial<Record<Reason, number>> = {};
  let dueAt = Infinity;
  let grace = -Infinity;
  let extended = 0;
  for (const x of e.extensions) {
    extended += x.ms;
    if (x.at + x.ms > grace) grace = x.at + x.ms;
  }

  // Time limits share one shape: a deadline, and a warn time `span × (1 − warnAt)` before it.
  const time = (reason: Reason, deadline: number, span: number): void => {
    if (now >= deadline) {
      reasons.push(reason);
      return;
    }
    const warnTime = deadline - span * (1 - warnAt);
    if (e.warned[reason] !== deadline) {
      if (now >= warnTime) {
        warnings.push(reason);
        warnKeys[reason] = deadline;
      } else if (warnTime < dueAt) dueAt = warnTime;
    }
    if (deadline < dueAt) dueAt = deadline;
  };

  let limit = minDefined(policy.maxRuntimeMs, e.limits.maxRuntimeMs);
  if (limit !== undefined) time('runtime', start + limit + extended, limit + extended);
  limit = minDefined(policy.stallAfterMs, e.limits.stallAfterMs);
  if (limit !== undefined) {
    const d = (e.lastProgressAt ?? start) + limit;
    time('stall', d > grace ? d : grace, limit);
  }
  // A discovered run has no tracker to send heartbeats: its liveness is the provider's status.
  limit = e.source === 'discovered' ? undefined : minDefined(policy.heartbeatTimeoutMs, e.limits.heartbeatTimeoutMs);
  if (limit !== undefined) {
    const d = (e.lastHeartbeatAt ?? start) + limit;
    time('heartbeat', d > grace ? d : grace, limit);
  }

  const maxCost = minDefined(policy.maxCostUsd, e.limits.maxCostUsd);
  if (maxCost !== undefined) {
    const rate = policy.costPerHourUsd;
    const cost = e.costUsd ?? (rate === undefined ? undefined : (rate * Math.max(0, now - start)) / 3_600_000);
    if (cost !== undefined && cost >= maxCost) reasons.push('cost');
    else {
      if (cost !== undefined && cost >= maxCost * warnAt && e.warned.cost !== maxCost) {
        warnings.push('cost');
        warnKeys.cost = maxCost;
      }
      // With only an hourly estimate the breach time is predictable; reported cost arrives by heartbeat.
      if (e.costUsd === undefined && rate !== undefined && rate > 0) {
        const deadline = start + (maxCost / rate) * 3_600_000;
        const warnTime = start + ((maxCost * warnAt) / rate) * 3_600_000;
        const next = e.warned.cost !== maxCost && warnTime > now ? warnTime : deadline;
        if (next < dueAt) dueAt = next;
      }
    }
  }

  const dryRun = policy.mode === 'dry-run';
  if (reasons.length > 0) return { action: 'cancel', reasons, warnings: [], warnKeys: {}, dueAt: now, recheck: false, dryRun };
  const recheck = dueAt === Infinity;
  if (recheck) dueAt = now + policy.recheckAfterMs;
  return { action: warnings.length > 0 ? 'warn' : 'none', reasons, warnings, warnKeys, dueAt, recheck, dryRun };
}

export function canExtend(e: Execution, policy: Policy, ms: number): { ok: true } | { ok: false; message: string } {
  if (!(ms > 0)) return { ok: false, message: 'extension must be positive' };
  const used = totalExtensionMs(e);
  if (used + ms > policy.maxExtensionMs) {
    return {
      ok: false,
      message: `extension refused: ${formatDuration(used + ms)} in total would exceed maxExtension ${formatDuration(policy.maxExtensionMs)} of policy "${policy.name}"`,
    };
  }
  return { ok: true };
}
