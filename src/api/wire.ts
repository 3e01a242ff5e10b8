/**
 * The tracking API on the wire: what a tracker sends and what it gets back. Plain types and
 * one constant, no imports: the client package (`runaway-watchdog-client`) ships these
 * declarations alone, without zod or any server code. The server's zod schemas are checked
 * against them at typecheck (test/api/wire.test.ts): a drift fails `npm run typecheck`.
 */

export type ExecutionState = 'running' | 'warned' | 'cancel_requested' | 'cancelling' | 'cancelled' | 'cancel_failed' | 'cancel_unconfirmed' | 'finished';
/** A limit kind. */
export type Reason = 'runtime' | 'stall' | 'heartbeat' | 'cost';
/** Why an execution was stopped: a limit, or a person. */
export type StopReason = Reason | 'manual';

/** Who did something: `policy:<name>`, `slack:<user id>`, `cli:<user>`, `api` … and through what. */
export interface Actor {
  id: string;
  via: string;
}

export interface Progress {
  done: number;
  total?: number;
}

export interface Extension {
  ms: number;
  at: number;
  by: string;
  reason?: string;
}

export interface AuditEvent {
  executionId: string;
  version: number;
  at: number;
  actor: Actor;
  what: string;
  why?: StopReason;
  from?: ExecutionState;
  to: ExecutionState;
  detail?: string;
  providerResponse?: string;
}

/** An execution as the API returns it (epoch milliseconds throughout). */
export interface PublicExecution {
  id: string;
  connection: string;
  provider: string;
  externalId: string;
  policy: string;
  labels: Record<string, string>;
  owner?: string;
  source?: 'discovered';
  limits: { maxRuntimeMs?: number; stallAfterMs?: number; heartbeatTimeoutMs?: number; maxCostUsd?: number };
  startedAt: number;
  trackedAt: number;
  lastHeartbeatAt?: number;
  heartbeats?: number;
  lastMessage?: string;
  lastProgressAt?: number;
  progress?: Progress;
  observedFraction?: number;
  progressHighWater?: number;
  costUsd?: number;
  state: ExecutionState;
  stopReasons?: StopReason[];
  /** Who asked for the cancel (a person, or `policy:<name>`). */
  requestedBy?: Actor;
  warned: Partial<Record<Reason, number>>;
  extensions: Extension[];
  attempts: number;
  nextAttemptAt?: number;
  cancelAcceptedAt?: number;
  providerStatus?: string;
  lastError?: string;
  faults?: number;
  faultRetryAt?: number;
  dueAt?: number;
  version: number;
  updatedAt: number;
  endedAt?: number;
  expiresAt?: number;
  heartbeatHeldUntil?: number;
  heartbeatSeq?: number;
  heartbeatSentAt?: number;
  snoozedUntil?: number;
  wouldCancelAt?: number;
  cancelResentAt?: number;
  /** A run the watchdog could not stop: when the platform was last looked at again, and when it was seen stopped. */
  checkedAt?: number;
  stoppedAt?: number;
  /** Approval mode: the request for the current breach and its answer (docs/oncall.md "Approval mode"). */
  approval?: Approval;
}

/** A policy in approval mode asked people before cancelling. */
export interface Approval {
  askedAt: number;
  /** No answer by then: the policy's onSilence applies. */
  until: number;
  reasons: Reason[];
  /** Each breached limit's deadline (time limits) or the limit (cost): one request per breach. */
  keys: Partial<Record<Reason, number>>;
  answer?: 'keep' | 'cancel' | 'silence';
  by?: string;
  at?: number;
  keptUntil?: number;
  /** What a silence decided. */
  silence?: 'keep' | 'cancel';
}

/** POST /v1/executions */
export interface TrackRequest {
  connection: string;
  /** 1–1,024 characters. */
  externalId: string;
  policy?: string;
  labels?: Record<string, string>;
  owner?: string;
  /** ISO 8601 or epoch ms; default now. */
  startedAt?: number | string;
  /** Tighter limits than the policy's (durations like "45m"). */
  limits?: { maxRuntime?: string; stallAfter?: string; heartbeatTimeout?: string; maxCostUsd?: number };
}

/** POST /v1/executions/{id}/heartbeat */
export interface HeartbeatInput {
  progress?: { done: number; total?: number } | { pct: number };
  /** Cumulative cost so far. */
  costUsd?: number;
  message?: string;
  /** The tracker's order of its heartbeats (WatchdogClient sends one). */
  seq?: number;
}

/**
 * The stable `code` of every refusal (the `error` text is for people and may change):
 * - `invalid_request` 400: a field is wrong (the error says which and why); nothing changed
 * - `unauthorized` 401: missing or wrong signature or API key
 * - `not_found` 404: no such execution (or outside the key's scope), or no such route
 * - `method_not_allowed` 405
 * - `already_handled` 409: this signed request was accepted before (a replay); nothing changed
 * - `execution_ended` 409: the execution is over (cancelled, finished, …): `execution` says by whom and why
 * - `cancel_in_progress` 409: a cancel of it is under way
 * - `tracked_elsewhere` 409: tracked outside this API key's scope
 * - `state_conflict` 409: its state does not allow this now
 * - `body_too_large` 413
 * - `internal` 500: a bug; nothing is known to have changed
 * - `unavailable` 503: the watchdog's own dependency failed; retry after `Retry-After`
 */
export const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'already_handled',
  'execution_ended',
  'cancel_in_progress',
  'tracked_elsewhere',
  'state_conflict',
  'body_too_large',
  'internal',
  'unavailable',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Every non-2xx answer of the tracking API. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
  /** With `execution_ended`: the execution as it ended. */
  execution?: PublicExecution;
}
