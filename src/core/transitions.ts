/**
 * Pure state transitions. Each takes the current execution and returns either the next
 * version (with its audit event in `pendingEvent` and a fresh `dueAt`) or a refusal
 * that says why. The store writes the result conditionally on (state, version).
 *
 *   running → warned → cancel_requested → cancelling → cancelled | cancel_failed | cancel_unconfirmed
 *   any live state → finished
 * Terminal states never move again.
 */
import { formatDuration } from './duration.js';
import { executionId } from './ids.js';
import {
  type Actor,
  type AuditEvent,
  type Execution,
  type ExecutionState,
  type HeartbeatInput,
  type LimitsMs,
  type Notice,
  type NoticeKind,
  type Reason,
  type ReplyTo,
  type StopReason,
  HEARTBEAT_MESSAGE_MAX,
  isTerminal,
  normaliseProgress,
  progressFraction,
} from './model.js';
import { gate, keepsOnSilence } from './approval.js';
import { type Policy, canExtend, evaluate, totalExtensionMs } from './policy.js';

export type Refusal =
  | { ok: false; outcome: 'terminal'; execution: Execution }
  /** A cancel of it is already requested or under way (a request, an extension refused). */
  | { ok: false; outcome: 'cancel_in_progress'; execution: Execution }
  /** Another holder's lease on its cancel has not expired. */
  | { ok: false; outcome: 'lease_held'; execution: Execution }
  /** Dry-run: the would-cancel was recorded before. */
  | { ok: false; outcome: 'already_recorded'; execution: Execution }
  | { ok: false; outcome: 'not_claimable'; execution: Execution }
  | { ok: false; outcome: 'lease_lost'; execution: Execution }
  /** A heartbeat older than (or a copy of) the last one applied: acknowledged, nothing changed. */
  | { ok: false; outcome: 'stale'; execution: Execution }
  | { ok: false; outcome: 'refused'; message: string; execution: Execution };
export type Change = { ok: true; execution: Execution };
export type Transition = Change | Refusal;

export interface Ctx {
  now: number;
  policy: Policy;
  /** Days to keep terminal records and audit events (TTL). */
  retentionMs: number;
}

/**
 * Due moment for any state: the state's own next moment, or an undelivered notice's,
 * whichever is first. Undefined once terminal with nothing left to deliver (the item
 * drops out of the sparse index).
 */
export function computeDueAt(e: Execution, policy: Policy, now: number): number | undefined {
  const own = stateDueAt(e, policy, now);
  let due = own ?? Infinity;
  for (const n of e.outbox ?? []) if (n.nextAt < due) due = n.nextAt;
  return due === Infinity ? undefined : due;
}

export function stateDueAt(e: Execution, policy: Policy, now: number): number | undefined {
  const own = ownStateDueAt(e, policy, now);
  // After a fault of the watchdog's own, the execution waits out its backoff first.
  return own !== undefined && e.faultRetryAt !== undefined && e.faultRetryAt > own ? e.faultRetryAt : own;
}

/**
 * The state's due time is only the periodic look (`recheckAfter`): no limit gives a deadline,
 * a dry-run's "would cancel" is already recorded, or a breach is kept (approval mode). Computed
 * afresh it always lies ahead of `now`, so the sweep acts on it (reads the platform: finished?)
 * rather than moving it on again.
 */
export function periodicLook(e: Execution, policy: Policy, now: number): boolean {
  if (e.state !== 'running' && e.state !== 'warned') return false;
  const d = evaluate(e, policy, now);
  if (d.action !== 'cancel') return d.recheck;
  if (d.dryRun) return e.wouldCancelAt !== undefined;
  return policy.onBreach === 'approve' && gate(e, policy, d.reasons, now).kind === 'kept';
}

function ownStateDueAt(e: Execution, policy: Policy, now: number): number | undefined {
  switch (e.state) {
    case 'running':
    case 'warned': {
      const d = evaluate(e, policy, now);
      // Dry-run: a recorded "would cancel" is not repeated; look again (finished?) later.
      if (d.action === 'cancel' && d.dryRun) return e.wouldCancelAt === undefined ? now : now + policy.recheckAfterMs;
      // A lost-heartbeat cancel the sweep holds waits for the hold's end.
      if (d.action === 'cancel' && onlyHeartbeat(d.reasons) && e.heartbeatHeldUntil !== undefined && e.heartbeatHeldUntil > now) return e.heartbeatHeldUntil;
      // Approval mode: a request waiting for its answer (or a keep) waits; a run kept after silence is looked at again later.
      if (d.action === 'cancel' && policy.onBreach === 'approve') {
        const g = gate(e, policy, d.reasons, now);
        if (g.kind === 'wait') return g.until;
        if (g.kind === 'kept') return now + policy.recheckAfterMs;
      }
      // A warning or a cancel to act on is due now, whatever the next deadline.
      return d.action === 'none' ? d.dueAt : now;
    }
    case 'cancel_requested':
      return e.nextAttemptAt ?? now;
    case 'cancelling': {
      // An expired lease is recovered by a later sweep; a pending cancel is checked at nextAttemptAt.
      const d = Math.min(e.lease?.until ?? Infinity, e.nextAttemptAt ?? Infinity);
      return d === Infinity ? now : d;
    }
    case 'cancel_failed':
    case 'cancel_unconfirmed': {
      // Looked at again (is it still running?) until seen stopped, for AFTERCARE_FOR_MS.
      if (e.stoppedAt !== undefined || e.endedAt === undefined) return undefined;
      const at = (e.checkedAt ?? e.endedAt) + AFTERCARE_EVERY_MS;
      return at <= e.endedAt + AFTERCARE_FOR_MS ? at : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * After a cancel that failed or stayed unconfirmed, the sweep reads the platform's status every
 * AFTERCARE_EVERY_MS for AFTERCARE_FOR_MS: when the run is seen stopped (a person stopped it, it
 * ended), that is recorded and its incident resolves (docs/oncall.md).
 */
export const AFTERCARE_EVERY_MS = 5 * 60_000;
export const AFTERCARE_FOR_MS = 24 * 60 * 60_000;

const alerted = (e: Execution) => (e.state === 'cancel_failed' || e.state === 'cancel_unconfirmed') && e.stoppedAt === undefined;

/** A run the watchdog could not stop is seen stopped on the platform: recorded (the state stays what it was; its incident resolves). */
export function recordStopped(cur: Execution, providerStatus: string, actor: Actor, ctx: Ctx): Transition {
  if (!alerted(cur)) return { ok: false, outcome: 'not_claimable', execution: cur };
  return next(cur, { stoppedAt: ctx.now, providerStatus }, ctx, {
    actor,
    what: 'seen stopped on the platform after the failed cancel',
    detail: `provider status ${providerStatus}`,
  });
}

/** Still running (or not readable) after a failed cancel: look again later; `final` ends the looking (no status call). */
export function recordChecked(cur: Execution, providerStatus: string | undefined, ctx: Ctx, final = false): Transition {
  if (!alerted(cur)) return { ok: false, outcome: 'not_claimable', execution: cur };
  const e: Execution = {
    ...cur,
    checkedAt: final ? (cur.endedAt ?? ctx.now) + AFTERCARE_FOR_MS : ctx.now,
    ...(providerStatus !== undefined ? { providerStatus } : {}),
    version: cur.version + 1,
    updatedAt: ctx.now,
  };
  setDue(e, ctx);
  return { ok: true, execution: e };
}

function next(cur: Execution, patch: Partial<Execution>, ctx: Ctx, event: Omit<AuditEvent, 'executionId' | 'version' | 'at' | 'from' | 'to'>): Change {
  const e: Execution = { ...cur, ...patch, version: cur.version + 1, updatedAt: ctx.now };
  // Any recorded step forward ends a run of faults.
  delete e.faults;
  delete e.faultRetryAt;
  if (isTerminal(e.state)) {
    e.endedAt ??= ctx.now;
    e.expiresAt = Math.floor((ctx.now + ctx.retentionMs) / 1000);
    delete e.lease;
    delete e.nextAttemptAt;
  }
  setDue(e, ctx);
  e.pendingEvent = {
    executionId: e.id,
    version: e.version,
    at: ctx.now,
    from: cur.state,
    to: e.state,
    ...event,
  };
  return { ok: true, execution: e };
}

function setDue(e: Execution, ctx: Ctx): void {
  const due = computeDueAt(e, ctx.policy, ctx.now);
  if (due === undefined) delete e.dueAt;
  else e.dueAt = due;
}

export interface TrackInput {
  connection: string;
  provider: string;
  externalId: string;
  policy: string;
  labels?: Record<string, string>;
  owner?: string;
  limits?: LimitsMs;
  startedAt?: number;
  source?: 'discovered';
  actor: Actor;
}

export function newExecution(input: TrackInput, ctx: Ctx): Execution {
  const id = executionId(input.connection, input.externalId);
  const base: Execution = {
    id,
    connection: input.connection,
    provider: input.provider,
    externalId: input.externalId,
    policy: input.policy,
    labels: input.labels ?? {},
    ...(input.owner === undefined ? {} : { owner: input.owner }),
    ...(input.source === undefined ? {} : { source: input.source }),
    limits: input.limits ?? {},
    startedAt: input.startedAt ?? ctx.now,
    trackedAt: ctx.now,
    state: 'running',
    warned: {},
    extensions: [],
    attempts: 0,
    version: 0,
    updatedAt: ctx.now,
  };
  base.dueAt = computeDueAt(base, ctx.policy, ctx.now);
  base.pendingEvent = {
    executionId: id,
    version: 0,
    at: ctx.now,
    actor: input.actor,
    what: 'tracked',
    to: 'running',
    detail: `policy ${input.policy}`,
  };
  return base;
}

function refuseTerminal(e: Execution): Refusal | undefined {
  return isTerminal(e.state) ? { ok: false, outcome: 'terminal', execution: e } : undefined;
}

/**
 * A heartbeat is liveness, not an audit event: it updates the item (last heartbeat, progress,
 * cost, count) and nothing else. Its due time moves lazily, because moving it rewrites the
 * due index entry (two more write units): earlier at once (a reported cost crossing a limit);
 * later only once the stored one is near — within a quarter of the new horizon — so a run
 * heartbeating steadily moves it about once per 0.6 × its timeout and never reaches the
 * sweep. A run whose stored due time comes first is rescheduled by the sweep (`reschedule`),
 * with no provider call. Most heartbeats are one item write (docs/cost.md).
 */
/**
 * A heartbeat, in the tracker's order: one older than the last applied (by `seq`, or by the
 * signed timestamp `sentAt`), or a copy of it, changes nothing (a late retry, a captured
 * request replayed). Reported cost never decreases and progress keeps its high-water mark,
 * so even an unordered heartbeat cannot move either back.
 */
export function applyHeartbeat(cur: Execution, hb: HeartbeatInput, ctx: Ctx, sentAt?: number): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (hb.seq !== undefined && cur.heartbeatSeq !== undefined && hb.seq <= cur.heartbeatSeq) return { ok: false, outcome: 'stale', execution: cur };
  if (sentAt !== undefined && cur.heartbeatSentAt !== undefined && sentAt <= cur.heartbeatSentAt) return { ok: false, outcome: 'stale', execution: cur };
  const e: Execution = { ...cur, lastHeartbeatAt: ctx.now, heartbeats: (cur.heartbeats ?? 0) + 1, version: cur.version + 1, updatedAt: ctx.now };
  delete e.heartbeatHeldUntil; // heartbeats arrive again: a later silence is judged afresh
  if (hb.seq !== undefined) e.heartbeatSeq = hb.seq;
  if (sentAt !== undefined) e.heartbeatSentAt = sentAt;
  const p = normaliseProgress(hb.progress);
  if (p !== undefined) {
    // The high-water mark: a lower count is shown as it was (and is no progress: a stall).
    if (cur.progress === undefined || p.done >= cur.progress.done) e.progress = p;
    // Only a new high-water mark is progress: repeating or going backwards is a stall. The
    // fraction is shared with status reads, so progress the platform already showed is not
    // new when the tracker reports it too (and the other way round).
    const f = progressFraction(p);
    // The first count is progress only above zero: a run that reports 0 done has not moved
    // since it started (as a first status read of 0 is not progress: observe()).
    const newCount = cur.progressHighWater === undefined ? p.done > 0 : p.done > cur.progressHighWater;
    const newFraction = f === undefined || cur.observedFraction === undefined || f > cur.observedFraction;
    if (cur.progressHighWater === undefined || p.done > cur.progressHighWater) e.progressHighWater = p.done;
    if (f !== undefined) e.observedFraction = Math.max(f, cur.observedFraction ?? 0);
    if (newCount && newFraction) e.lastProgressAt = ctx.now;
  }
  if (hb.costUsd !== undefined) e.costUsd = Math.max(hb.costUsd, cur.costUsd ?? 0);
  if (hb.message !== undefined) e.lastMessage = hb.message.slice(0, HEARTBEAT_MESSAGE_MAX);
  const due = computeDueAt(e, ctx.policy, ctx.now);
  if (due !== undefined && (cur.dueAt === undefined || due < cur.dueAt || cur.dueAt - ctx.now <= (due - ctx.now) / 4)) e.dueAt = due;
  return { ok: true, execution: e };
}

export function markFinished(cur: Execution, actor: Actor, ctx: Ctx, providerStatus?: string): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  return next(cur, { state: 'finished', ...(providerStatus ? { providerStatus } : {}) }, ctx, {
    actor,
    what: 'finished',
    ...(providerStatus ? { detail: `provider status ${providerStatus}` } : {}),
  });
}

export function recordWarning(cur: Execution, warnKeys: Partial<Record<Reason, number>>, actor: Actor, ctx: Ctx): Transition {
  if (cur.state !== 'running' && cur.state !== 'warned') return { ok: false, outcome: 'not_claimable', execution: cur };
  const reasons = Object.keys(warnKeys) as Reason[];
  return next(cur, { state: 'warned', warned: { ...cur.warned, ...warnKeys } }, ctx, {
    actor,
    what: 'warned',
    ...(reasons.length === 1 ? { why: reasons[0] } : {}),
    detail: `limits near: ${reasons.join(', ')}`,
  });
}

/** A person or the sweep decided to cancel; the claim comes next (possibly from a sweep). */
export function requestCancel(cur: Execution, reasons: StopReason[], actor: Actor, ctx: Ctx, detail?: string): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (cur.state === 'cancel_requested' || cur.state === 'cancelling') return { ok: false, outcome: 'cancel_in_progress', execution: cur };
  // A person's cancel answers an approval request that is waiting.
  const answered =
    cur.approval !== undefined && cur.approval.answer === undefined && reasons.includes('manual')
      ? { approval: { ...cur.approval, answer: 'cancel' as const, by: actor.id, at: ctx.now } }
      : {};
  return next(cur, { state: 'cancel_requested', stopReasons: reasons, requestedBy: actor, attempts: 0, ...answered }, ctx, {
    actor,
    what: 'cancel requested',
    ...(reasons.length === 1 ? { why: reasons[0] } : {}),
    detail: detail ?? `reasons: ${reasons.join(', ')}`,
  });
}

export interface ClaimInput {
  holder: string;
  leaseMs: number;
  /** Reasons when the claim also decides (sweep); a prior request keeps its own. */
  reasons?: StopReason[];
  actor: Actor;
}

/**
 * Claim the right to call the provider's cancel. Claimable: a live execution not under a
 * valid lease (running, warned, cancel_requested, or cancelling whose lease expired).
 */
export function claimCancel(cur: Execution, input: ClaimInput, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (cur.state === 'cancelling' && cur.lease && cur.lease.until > ctx.now) return { ok: false, outcome: 'lease_held', execution: cur };
  if (cur.state === 'cancel_requested' && cur.nextAttemptAt !== undefined && cur.nextAttemptAt > ctx.now) {
    return { ok: false, outcome: 'not_claimable', execution: cur };
  }
  const recovering = cur.state === 'cancelling';
  // A cancel the provider accepted is being checked on, not attempted again.
  const checking = recovering && cur.cancelAcceptedAt !== undefined;
  const stopReasons = cur.stopReasons ?? input.reasons ?? ['manual'];
  return next(
    cur,
    {
      state: 'cancelling',
      stopReasons,
      requestedBy: cur.requestedBy ?? input.actor,
      lease: { holder: input.holder, until: ctx.now + input.leaseMs },
      attempts: checking ? cur.attempts : cur.attempts + 1,
    },
    ctx,
    {
      actor: input.actor,
      what: checking ? 'cancel confirmation check' : recovering ? 'cancel claimed (expired lease recovered)' : 'cancel claimed',
      ...(stopReasons.length === 1 ? { why: stopReasons[0] } : {}),
      detail: checking
        ? `accepted ${formatDuration(ctx.now - (cur.cancelAcceptedAt ?? ctx.now))} ago`
        : `attempt ${cur.attempts + 1}, lease ${formatDuration(input.leaseMs)}`,
    },
  );
}

/** What the holder of a claim learned from the provider. */
export type CancelResult =
  | { kind: 'cancelled'; providerStatus?: string; response?: string }
  | { kind: 'already_finished'; providerStatus?: string; response?: string }
  /** Accepted, not yet terminal: check again at `checkAt`. */
  | { kind: 'cancel_pending'; checkAt: number; providerStatus?: string; response?: string; resent?: boolean }
  /** Retryable fault: try again at `retryAt`. */
  | { kind: 'retry'; retryAt: number; error: string; response?: string }
  | { kind: 'failed'; error: string; response?: string }
  | { kind: 'unconfirmed'; error: string; providerStatus?: string; response?: string };

export function recordOutcome(cur: Execution, holder: string, result: CancelResult, actor: Actor, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (cur.state !== 'cancelling' || cur.lease?.holder !== holder) return { ok: false, outcome: 'lease_lost', execution: cur };
  const response = result.response === undefined ? {} : { providerResponse: result.response.slice(0, 1000) };
  const why = cur.stopReasons?.length === 1 ? { why: cur.stopReasons[0] } : {};
  switch (result.kind) {
    case 'cancelled':
      return next(cur, { state: 'cancelled', ...status(result.providerStatus) }, ctx, { actor, what: 'cancelled', ...why, ...response });
    case 'already_finished':
      return next(cur, { state: 'finished', ...status(result.providerStatus) }, ctx, {
        actor,
        what: 'finished before the cancel took effect',
        ...response,
      });
    case 'cancel_pending':
      return next(
        cur,
        {
          cancelAcceptedAt: cur.cancelAcceptedAt ?? ctx.now,
          nextAttemptAt: result.checkAt,
          lease: { holder, until: result.checkAt },
          ...(result.resent ? { cancelResentAt: ctx.now } : {}),
          ...status(result.providerStatus),
        },
        ctx,
        { actor, what: result.resent ? 'cancel sent again (not confirmed in time)' : 'cancel accepted, not yet effective', ...response },
      );
    case 'retry': {
      const patch: Partial<Execution> = { state: 'cancel_requested', nextAttemptAt: result.retryAt, lastError: result.error };
      const e = next(cur, patch, ctx, { actor, what: 'cancel will be retried', detail: result.error, ...response });
      delete e.execution.lease;
      return e;
    }
    case 'failed':
      return next(cur, { state: 'cancel_failed', lastError: result.error }, ctx, { actor, what: 'cancel failed', ...why, detail: result.error, ...response });
    case 'unconfirmed':
      return next(cur, { state: 'cancel_unconfirmed', lastError: result.error, ...status(result.providerStatus) }, ctx, {
        actor,
        what: 'cancel unconfirmed',
        ...why,
        detail: result.error,
        ...response,
      });
  }
}

/**
 * The holder of a claim is about to send an accepted, unconfirmed cancel once more: recorded
 * before it is sent, so a holder that dies after sending leaves the re-send marked and whoever
 * recovers the claim does not send a third. Not a state change: no audit event (the outcome
 * that follows has one).
 */
export function markResend(cur: Execution, holder: string, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (cur.state !== 'cancelling' || cur.lease?.holder !== holder) return { ok: false, outcome: 'lease_lost', execution: cur };
  return { ok: true, execution: { ...cur, cancelResentAt: ctx.now, version: cur.version + 1, updatedAt: ctx.now } };
}

const status = (s: string | undefined): Partial<Execution> => (s === undefined ? {} : { providerStatus: s });

export function extend(cur: Execution, ms: number, actor: Actor, ctx: Ctx, reason?: string): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (cur.state === 'cancelling') return { ok: false, outcome: 'cancel_in_progress', execution: cur };
  const check = canExtend(cur, ctx.policy, ms);
  if (!check.ok) return { ok: false, outcome: 'refused', message: check.message, execution: cur };
  const extension = { ms, at: ctx.now, by: actor.id, ...(reason ? { reason } : {}) };
  // Extending withdraws a pending cancel request: the person decided to let it run.
  const state: ExecutionState = cur.state === 'cancel_requested' ? 'running' : cur.state;
  const patch: Partial<Execution> = { state, extensions: [...cur.extensions, extension] };
  const e = next(cur, patch, ctx, { actor, what: `extended by ${formatDuration(ms)}`, ...(reason ? { detail: reason } : {}) });
  if (cur.state === 'cancel_requested') {
    delete e.execution.stopReasons;
    delete e.execution.requestedBy;
    delete e.execution.nextAttemptAt;
    e.execution.dueAt = computeDueAt(e.execution, ctx.policy, ctx.now);
  }
  return e;
}

/**
 * Approval mode: the breach of `reasons` is put to people (the caller adds the request's
 * notice). The run stays live (`warned`) until an answer, or `approveWithin` without one.
 */
export function askApproval(cur: Execution, reasons: Reason[], keys: Partial<Record<Reason, number>>, actor: Actor, ctx: Ctx): Transition {
  if (cur.state !== 'running' && cur.state !== 'warned') return { ok: false, outcome: 'not_claimable', execution: cur };
  const within = ctx.policy.approveWithinMs ?? 0;
  const approval = { askedAt: ctx.now, until: ctx.now + within, reasons, keys };
  return next(cur, { state: 'warned', approval }, ctx, {
    actor,
    what: 'approval asked',
    ...(reasons.length === 1 ? { why: reasons[0] } : {}),
    detail: `limits breached: ${reasons.join(', ')}; no answer within ${formatDuration(within)} → ${ctx.policy.onSilence === 'keep' ? 'kept running' : 'cancelled'}`,
  });
}

/** Nobody answered the approval request in time: recorded (audited) before `onSilence` applies. */
export function recordSilence(cur: Execution, actor: Actor, ctx: Ctx): Transition {
  const a = cur.approval;
  if ((cur.state !== 'running' && cur.state !== 'warned') || a === undefined || a.answer !== undefined || ctx.now < a.until)
    return { ok: false, outcome: 'not_claimable', execution: cur };
  const keep = keepsOnSilence(cur, ctx.policy);
  const why = keep
    ? 'kept running (onSilence: keep)'
    : ctx.policy.onSilence === 'keep'
      ? 'cancelling: the request was never delivered'
      : 'cancelling (onSilence: cancel)';
  return next(cur, { approval: { ...a, answer: 'silence', by: actor.id, at: ctx.now, silence: keep ? 'keep' : 'cancel' } }, ctx, {
    actor,
    what: 'approval unanswered',
    ...(a.reasons.length === 1 ? { why: a.reasons[0] } : {}),
    detail: `no answer within ${formatDuration(a.until - a.askedAt)}: ${why}`,
  });
}

/**
 * A person's "Keep running": an extension of `ms`, capped by what is left of the policy's
 * maxExtension, that also answers a waiting approval request (no cancel and no new request
 * before the time is up — for a cost breach too, which an extension alone does not move).
 */
export function keep(cur: Execution, ms: number, actor: Actor, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (cur.state === 'cancelling') return { ok: false, outcome: 'cancel_in_progress', execution: cur };
  const room = ctx.policy.maxExtensionMs - totalExtensionMs(cur);
  const grant = Math.min(ms, room);
  if (!(grant > 0))
    return {
      ok: false,
      outcome: 'refused',
      message: `keep refused: maxExtension ${formatDuration(ctx.policy.maxExtensionMs)} of policy "${ctx.policy.name}" is used up; cancel it, or let the policy decide`,
      execution: cur,
    };
  const capped = grant < ms ? ` (capped by maxExtension ${formatDuration(ctx.policy.maxExtensionMs)})` : '';
  const x = extend(cur, grant, actor, ctx, `keep running${capped}`);
  if (!x.ok) return x;
  const e = x.execution;
  if (cur.approval !== undefined) {
    e.approval = { ...cur.approval, answer: 'keep', by: actor.id, at: ctx.now, keptUntil: ctx.now + grant };
    setDue(e, ctx);
  }
  if (e.pendingEvent) e.pendingEvent = { ...e.pendingEvent, what: `kept running for ${formatDuration(grant)}` };
  return x;
}

/** A person silences warnings for a while; limits (and cancels) still apply. */
export function snooze(cur: Execution, ms: number, actor: Actor, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  if (!(ms > 0)) return { ok: false, outcome: 'refused', message: 'snooze must be positive', execution: cur };
  const cap = ctx.policy.maxSnoozeMs ?? ctx.policy.maxExtensionMs;
  if (ms > cap) {
    return {
      ok: false,
      outcome: 'refused',
      message: `snooze refused: ${formatDuration(ms)} exceeds maxSnooze ${formatDuration(cap)} of policy "${ctx.policy.name}"`,
      execution: cur,
    };
  }
  return next(cur, { snoozedUntil: ctx.now + ms }, ctx, { actor, what: `warnings snoozed for ${formatDuration(ms)}` });
}

export interface FaultInput {
  error: string;
  /** Faults in a row after which the watchdog gives up visibly (cancel_failed, alerted). */
  maxFaults: number;
  /** When to try again while under maxFaults. */
  retryAt: number;
}

/**
 * The watchdog itself failed while handling this execution (an exception, not a provider
 * answer): the fault is recorded *on the execution* — counted, audited, backed off — so one
 * bad execution never stops the others and never fails silently. After `maxFaults` in a
 * row it ends `cancel_failed` (the caller adds the alert): it may still be running.
 */
export function recordFault(cur: Execution, f: FaultInput, actor: Actor, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  const faults = (cur.faults ?? 0) + 1;
  const error = f.error.slice(0, 500);
  if (faults >= f.maxFaults) {
    return next(cur, { state: 'cancel_failed', lastError: `the watchdog failed ${faults} times handling it: ${error}` }, ctx, {
      actor,
      what: 'given up after repeated faults',
      detail: error,
    });
  }
  const c = next(cur, { lastError: error }, ctx, { actor, what: `fault ${faults} of ${f.maxFaults}, will retry`, detail: error });
  c.execution.faults = faults;
  c.execution.faultRetryAt = f.retryAt;
  setDue(c.execution, ctx);
  return c;
}

/** The breach reasons are lost heartbeats only (no runtime, stall or cost limit reached). */
export const onlyHeartbeat = (reasons: readonly string[]): boolean => reasons.length > 0 && reasons.every((r) => r === 'heartbeat');

/**
 * The sweep holds a lost-heartbeat cancel until `until` (heartbeats are not arriving
 * fleet-wide). The first hold of an episode is audited with why; extending it is not.
 */
export function holdHeartbeatCancel(cur: Execution, until: number, why: string, actor: Actor, ctx: Ctx): Transition {
  if (cur.state !== 'running' && cur.state !== 'warned') return { ok: false, outcome: 'not_claimable', execution: cur };
  if (cur.heartbeatHeldUntil !== undefined) {
    const e: Execution = { ...cur, heartbeatHeldUntil: until, version: cur.version + 1, updatedAt: ctx.now };
    setDue(e, ctx);
    return { ok: true, execution: e };
  }
  return next(cur, { heartbeatHeldUntil: until }, ctx, { actor, what: 'lost-heartbeat cancel held', why: 'heartbeat', detail: why.slice(0, 500) });
}

/**
 * A person waits for this cancel's outcome where they asked (no state change, no audit
 * event: who asked is audited with the request). Refused once the execution has ended: the
 * caller then reports the outcome itself, so it is told exactly once either way.
 */
export function awaitOutcome(cur: Execution, reply: ReplyTo, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  return { ok: true, execution: { ...cur, replyTo: reply, version: cur.version + 1, updatedAt: ctx.now } };
}

/** Nothing to do yet: move dueAt (no state change, no audit event; the outbox is kept). */
export function reschedule(cur: Execution, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  const e: Execution = { ...cur, version: cur.version + 1, updatedAt: ctx.now };
  setDue(e, ctx);
  return { ok: true, execution: e };
}

/**
 * The sweep's claim: for an execution still under policy (running, warned) the policy is
 * evaluated again on the *current* item, so an extension or a heartbeat that landed after
 * the due query wins over a stale decision. Requested and expired cancels claim as usual.
 */
export function decideAndClaim(cur: Execution, input: ClaimInput, ctx: Ctx): Transition {
  if (cur.state === 'running' || cur.state === 'warned') {
    const d = evaluate(cur, ctx.policy, ctx.now);
    if (d.action !== 'cancel' || d.dryRun) return { ok: false, outcome: 'not_claimable', execution: cur };
    // Approval mode: only a breach that may be cancelled now (no answer pending, no keep).
    if (gate(cur, ctx.policy, d.reasons, ctx.now).kind !== 'cancel') return { ok: false, outcome: 'not_claimable', execution: cur };
    return claimCancel(cur, { ...input, reasons: d.reasons }, ctx);
  }
  return claimCancel(cur, input, ctx);
}

/** Dry-run: the policy would cancel. Recorded (and notified) once; the execution keeps running. */
export function recordWouldCancel(cur: Execution, actor: Actor, ctx: Ctx): Transition {
  if (cur.state !== 'running' && cur.state !== 'warned') return { ok: false, outcome: 'not_claimable', execution: cur };
  if (cur.wouldCancelAt !== undefined) return { ok: false, outcome: 'already_recorded', execution: cur };
  const d = evaluate(cur, ctx.policy, ctx.now);
  if (d.action !== 'cancel') return { ok: false, outcome: 'not_claimable', execution: cur };
  return next(cur, { wouldCancelAt: ctx.now, stopReasons: d.reasons }, ctx, {
    actor,
    what: 'would cancel (dry-run)',
    ...(d.reasons.length === 1 ? { why: d.reasons[0] } : {}),
    detail: `limits breached: ${d.reasons.join(', ')}`,
  });
}

/** What a provider status call showed (sweep observation): progress feeds the stall clock. */
export interface Observation {
  raw: string;
  fraction?: number;
  done?: number;
  total?: number;
}

/** Record a provider observation: no state change, no audit event. */
export function observe(cur: Execution, obs: Observation, ctx: Ctx): Transition {
  const t = refuseTerminal(cur);
  if (t) return t;
  const e: Execution = { ...cur, providerStatus: obs.raw, version: cur.version + 1, updatedAt: ctx.now };
  const f = obs.fraction;
  if (f !== undefined && Number.isFinite(f)) {
    // Only a new high-water mark is progress, whichever way the mark was set (heartbeat or
    // an earlier read); a first observation of 0 is not.
    const known =
      cur.observedFraction ??
      progressFraction(
        cur.progressHighWater === undefined
          ? undefined
          : { done: cur.progressHighWater, ...(cur.progress?.total === undefined ? {} : { total: cur.progress.total }) },
      );
    if (known === undefined ? f > 0 : f > known) e.lastProgressAt = ctx.now;
    e.observedFraction = Math.max(f, known ?? 0);
    if (cur.progressHighWater === undefined) {
      e.progress =
        obs.done !== undefined && obs.total !== undefined && obs.total > 0
          ? { done: obs.done, total: obs.total }
          : { done: Math.round(f * 1000) / 10, total: 100 };
    }
  }
  setDue(e, ctx);
  return { ok: true, execution: e };
}

/** Queue notifications to `targets` with a transition, in the same write. */
export function withNotices(t: Transition, targets: readonly string[], kind: NoticeKind, ctx: Ctx, reasons?: Reason[]): Transition {
  if (!t.ok || targets.length === 0) return t;
  const e = t.execution;
  const notices: Notice[] = targets.map((target) => ({
    key: `${e.version}:${target}`,
    target,
    kind,
    state: e.state,
    attempts: 0,
    nextAt: ctx.now,
    ...(reasons?.length ? { reasons } : {}),
  }));
  const execution: Execution = { ...e, outbox: [...(e.outbox ?? []), ...notices] };
  setDue(execution, ctx);
  return { ok: true, execution };
}

export interface Delivery {
  key: string;
  ok: boolean;
  error?: string;
  /** Thread id to keep for later notices to the same target (Slack `ts`). */
  thread?: string;
}

/** Notices are tried this many times (across sweeps) before giving up; each failure is audited. */
export const NOTICE_MAX_ATTEMPTS = 5;
const noticeBackoffMs = (attempts: number): number => Math.min(15 * 60_000, 15_000 * 2 ** (attempts - 1));

/**
 * Settle delivered and failed notices. Delivered ones leave the outbox; failed ones are
 * retried later with backoff, and each failure is an audit event (given up after
 * NOTICE_MAX_ATTEMPTS). Terminal executions may still settle their notices.
 */
export function settleNotices(cur: Execution, deliveries: readonly Delivery[], actor: Actor, ctx: Ctx): Transition {
  const byKey = new Map(deliveries.map((d) => [d.key, d]));
  const outbox: Notice[] = [];
  const threads = { ...(cur.threads ?? {}) };
  const failures: string[] = [];
  for (const n of cur.outbox ?? []) {
    const d = byKey.get(n.key);
    if (!d) {
      outbox.push(n);
      continue;
    }
    if (d.ok) {
      if (d.thread && threads[n.target] === undefined) threads[n.target] = d.thread;
      continue;
    }
    const attempts = n.attempts + 1;
    const error = (d.error ?? 'unknown error').slice(0, 300);
    if (attempts >= NOTICE_MAX_ATTEMPTS) failures.push(`${n.kind} to ${n.target} failed ${attempts} times, given up: ${error}`);
    else {
      failures.push(`${n.kind} to ${n.target} failed (attempt ${attempts}), retrying: ${error}`);
      outbox.push({ ...n, attempts, nextAt: ctx.now + noticeBackoffMs(attempts), lastError: error });
    }
  }
  const e: Execution = { ...cur, threads, version: cur.version + 1, updatedAt: ctx.now };
  if (outbox.length > 0) e.outbox = outbox;
  else delete e.outbox;
  if (Object.keys(threads).length === 0) delete e.threads;
  if (failures.length > 0) {
    e.pendingEvent = {
      executionId: e.id,
      version: e.version,
      at: ctx.now,
      actor,
      what: 'notification failed',
      from: cur.state,
      to: cur.state,
      detail: failures.join('; '),
    };
  }
  setDue(e, ctx);
  return { ok: true, execution: e };
}
