/**
 * The domain model: tracked executions, their states and audit events.
 * Schemas are zod so every boundary (DynamoDB items, HTTP bodies, CLI input) parses
 * into the same types; types are derived with z.infer.
 */
import * as z from 'zod';
import { isPrototypeName } from './own.js';

/** A label key from outside: never an Object.prototype member name (see own.ts). */
export const LabelKey = z
  .string()
  .min(1)
  .max(128)
  .refine((k) => !isPrototypeName(k), { error: (iss) => `label key ${JSON.stringify(iss.input)} is reserved` });

export const REASONS = ['runtime', 'stall', 'heartbeat', 'cost'] as const;
export const Reason = z.enum(REASONS);
export type Reason = z.infer<typeof Reason>;
/** Why an execution was stopped: a limit, or a person. */
export const StopReason = z.enum([...REASONS, 'manual']);
export type StopReason = z.infer<typeof StopReason>;

export const LIVE_STATES = ['running', 'warned', 'cancel_requested', 'cancelling'] as const;
export const TERMINAL_STATES = ['cancelled', 'cancel_failed', 'cancel_unconfirmed', 'finished'] as const;
export const ExecutionState = z.enum([...LIVE_STATES, ...TERMINAL_STATES]);
export type ExecutionState = z.infer<typeof ExecutionState>;

const TERMINAL = new Set<string>(TERMINAL_STATES);
export const isTerminal = (s: ExecutionState): boolean => TERMINAL.has(s);

/** Progress is normalised to a count: a percentage p is stored as {done: p, total: 100}. */
export const Progress = z.object({
  done: z.number().finite().nonnegative(),
  total: z.number().finite().positive().optional(),
});
export type Progress = z.infer<typeof Progress>;

/** Per-execution limits given at track time. They may only tighten the policy. */
export const LimitsMs = z.object({
  maxRuntimeMs: z.number().positive().optional(),
  stallAfterMs: z.number().positive().optional(),
  heartbeatTimeoutMs: z.number().positive().optional(),
  maxCostUsd: z.number().nonnegative().optional(),
});
export type LimitsMs = z.infer<typeof LimitsMs>;

export const Extension = z.object({
  ms: z.number().positive(),
  at: z.number(),
  by: z.string(),
  reason: z.string().optional(),
});
export type Extension = z.infer<typeof Extension>;

export const Actor = z.object({
  /** "policy:<name>", "cli:<user>", "slack:<user id>", "api" … */
  id: z.string().min(1),
  via: z.string().min(1),
});
export type Actor = z.infer<typeof Actor>;

export const AuditEvent = z.object({
  executionId: z.string(),
  /** The execution version this event produced: unique per execution, so writes are idempotent. */
  version: z.number().int(),
  at: z.number(),
  actor: Actor,
  what: z.string(),
  why: StopReason.optional(),
  from: ExecutionState.optional(),
  to: ExecutionState,
  detail: z.string().optional(),
  providerResponse: z.string().optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

/**
 * A notification the sweep still has to deliver, written with the transition that caused
 * it (same conditional write), removed once delivered: a crash cannot lose it, and a
 * transition won by another sweep cannot send it twice.
 */
export const NoticeKind = z.enum(['warning', 'would_cancel', 'outcome', 'resolved', 'approval', 'kept']);
export type NoticeKind = z.infer<typeof NoticeKind>;
export const Notice = z.object({
  /** Unique per execution: `<version>:<target>`. */
  key: z.string(),
  target: z.string(),
  kind: NoticeKind,
  /** The limits concerned (warnings, would-cancel). */
  reasons: z.array(Reason).optional(),
  /** Snapshot of the state this notice reports. */
  state: ExecutionState,
  attempts: z.number().int().nonnegative(),
  nextAt: z.number(),
  lastError: z.string().optional(),
});
export type Notice = z.infer<typeof Notice>;

/**
 * Where a person who asked for a cancel in chat waits for its outcome: Slack's response_url
 * (valid 30 minutes) or a Discord interaction's webhook (15 minutes), until `until`.
 */
export const ReplyTo = z.object({ to: z.enum(['slack', 'discord']), url: z.string().max(2_000), until: z.number() });
export type ReplyTo = z.infer<typeof ReplyTo>;

/**
 * Approval mode (a policy's `onBreach: approve`): at a breach people are asked before the
 * cancel. One request per breach episode — `keys` holds each breached limit's deadline (time
 * limits) or the limit itself (cost), so a new deadline (an extension, progress) is a new
 * episode and a new request (core/approval.ts).
 */
export const Approval = z.object({
  askedAt: z.number(),
  /** No answer by then: the policy's `onSilence` applies. */
  until: z.number(),
  reasons: z.array(Reason),
  keys: z.partialRecord(Reason, z.number()),
  /** keep / cancel: a person's answer; silence: nobody answered in time. */
  answer: z.enum(['keep', 'cancel', 'silence']).optional(),
  /** Who answered (actor id; the policy's for silence), and when. */
  by: z.string().optional(),
  at: z.number().optional(),
  /** keep: no cancel and no new request before this time. */
  keptUntil: z.number().optional(),
  /** silence: what it decided (keep only under onSilence: keep, and only for a request that went out). */
  silence: z.enum(['keep', 'cancel']).optional(),
});
export type Approval = z.infer<typeof Approval>;

export const Execution = z.object({
  id: z.string().min(1),
  connection: z.string().min(1),
  provider: z.string().min(1),
  externalId: z.string().min(1),
  policy: z.string().min(1),
  labels: z.record(z.string(), z.string()),
  owner: z.string().optional(),
  /** How the watchdog learned of it: absent when a tracker tracked it; `discovered` from the platform's list (no tracker, no heartbeats). */
  source: z.enum(['discovered']).optional(),
  limits: LimitsMs,
  /** Epoch ms as reported by the tracker (may be skewed). */
  startedAt: z.number(),
  /** Epoch ms by the watchdog's own clock. */
  trackedAt: z.number(),
  lastHeartbeatAt: z.number().optional(),
  /** Heartbeats received: liveness is counted on the item, not written to the audit trail. */
  heartbeats: z.number().int().nonnegative().optional(),
  /** The latest heartbeat's message (clipped to HEARTBEAT_MESSAGE_MAX). */
  lastMessage: z.string().optional(),
  /** Last time progress moved forward (a new high-water mark of `done`). */
  lastProgressAt: z.number().optional(),
  progress: Progress.optional(),
  /** Highest progress fraction seen either way (heartbeat with a total, or provider status): one high-water mark. */
  observedFraction: z.number().optional(),
  /** Highest `done` ever reported: progress that goes backwards is not progress. */
  progressHighWater: z.number().optional(),
  costUsd: z.number().nonnegative().optional(),
  state: ExecutionState,
  stopReasons: z.array(StopReason).optional(),
  requestedBy: Actor.optional(),
  /** Warnings already sent, keyed by limit, valued by the deadline (or limit) they warned about. */
  warned: z.partialRecord(Reason, z.number()),
  extensions: z.array(Extension),
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: z.number().optional(),
  /** Who holds the claim on its cancel (a sweeper's id), and until when. */
  lease: z.object({ holder: z.string(), until: z.number() }).optional(),
  /** When the provider accepted a cancel that had not yet taken effect. */
  cancelAcceptedAt: z.number().optional(),
  providerStatus: z.string().optional(),
  lastError: z.string().optional(),
  /** Consecutive faults of the watchdog itself while handling this execution (see recordFault). */
  faults: z.number().int().nonnegative().optional(),
  /** After a fault: not handled again before this time (backoff). */
  faultRetryAt: z.number().optional(),
  /** Earliest moment this execution needs attention; absent once terminal (sparse GSI). */
  dueAt: z.number().optional(),
  version: z.number().int().nonnegative(),
  updatedAt: z.number(),
  endedAt: z.number().optional(),
  /** Epoch seconds: DynamoDB TTL, set on terminal records only. */
  expiresAt: z.number().int().optional(),
  /** Notifications not yet delivered (see Notice). */
  outbox: z.array(Notice).optional(),
  /** Chat threads of this execution's first warning, per notify target (Slack `ts`). */
  threads: z.record(z.string(), z.string()).optional(),
  /**
   * A lost-heartbeat cancel held by the sweep until this time: heartbeats were not arriving
   * fleet-wide (the watchdog's own ingestion may be at fault). Cleared by the next heartbeat.
   */
  heartbeatHeldUntil: z.number().optional(),
  /** The `seq` of the last heartbeat applied (a later one with a lower or equal seq is stale). */
  heartbeatSeq: z.number().optional(),
  /** The signed timestamp (ms) of the last v2-signed heartbeat applied. */
  heartbeatSentAt: z.number().optional(),
  /** Warnings are not sent before this time (a person snoozed them); limits still apply. */
  snoozedUntil: z.number().optional(),
  /** Dry-run: when the policy first decided it would cancel (recorded and notified once). */
  wouldCancelAt: z.number().optional(),
  /** A cancel accepted but unconfirmed after confirmWithin was sent once more at this time. */
  cancelResentAt: z.number().optional(),
  /** A run the watchdog could not stop (cancel_failed / cancel_unconfirmed): when the sweep last looked at the platform again, and when it saw it stopped. */
  checkedAt: z.number().optional(),
  stoppedAt: z.number().optional(),
  /** Approval mode: the request for the current breach and its answer (see Approval). */
  approval: Approval.optional(),
  /** A person waits for this cancel's outcome where they asked (an outcome notice goes there too). */
  replyTo: ReplyTo.optional(),
  /** Earlier audit events still carried in the item (flushed to their own items in batches). */
  outboxEvents: z.array(AuditEvent).optional(),
  /** Outbox: the audit event of the latest transition, written with the item itself. */
  pendingEvent: AuditEvent.optional(),
});
export type Execution = z.infer<typeof Execution>;

/** The watchdog's own bookkeeping on an execution, never shown through the tracking API. */
export const INTERNAL_FIELDS = ['outbox', 'outboxEvents', 'pendingEvent', 'lease', 'threads', 'replyTo'] as const;
export type PublicExecution = Omit<Execution, (typeof INTERNAL_FIELDS)[number]>;

/** What the tracking API returns about an execution. */
export function publicView(e: Execution): PublicExecution {
  const out: Record<string, unknown> = { ...e };
  for (const k of INTERNAL_FIELDS) delete out[k];
  return out as PublicExecution;
}

/** A heartbeat's message as kept on the item: the item must stay under 1 KB (one write unit). */
export const HEARTBEAT_MESSAGE_MAX = 200;

export const HeartbeatInput = z
  .object({
    progress: z
      .union([
        z.object({ done: z.number().finite().nonnegative(), total: z.number().finite().positive().optional() }),
        z.object({ pct: z.number().finite().min(0).max(100) }),
      ])
      .optional(),
    costUsd: z.number().finite().nonnegative().optional(),
    message: z.string().max(500).optional(),
    /**
     * The tracker's order of its heartbeats (any number that grows: WatchdogClient sends one).
     * A heartbeat whose `seq` is not above the last one applied changes nothing.
     */
    seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type HeartbeatInput = z.infer<typeof HeartbeatInput>;

export function normaliseProgress(p: HeartbeatInput['progress']): Progress | undefined {
  if (p === undefined) return undefined;
  if ('pct' in p) return { done: p.pct, total: 100 };
  if (p.total !== undefined && p.done > p.total) return { done: p.total, total: p.total };
  return p;
}

export function progressFraction(p: Progress | undefined): number | undefined {
  if (p?.total === undefined) return undefined;
  return Math.min(1, p.done / p.total);
}
