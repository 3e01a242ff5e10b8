/**
 * The metric contract, one module for both sides: the Lambda handlers emit exactly these
 * names and dimensions (EMF), and the construct builds its alarms and dashboard from the
 * same constants, so an alarm can never watch a metric nobody emits.
 */
export const METRICS_NAMESPACE = 'RunawayWatchdog';
/** Powertools' `service` dimension on every metric. */
export const SERVICE_DIMENSION = 'service';
export const SWEEPER_SERVICE = 'sweeper';
export const WEBHOOK_SERVICE = 'webhook';
/** The per-connection dimension of ConnectionUnhealthy, Untracked and DiscoveryIncomplete. */
export const CONNECTION_DIMENSION = 'connection';

export const SweeperMetric = {
  /** 1 per sweep that ran to its end: missing data means the sweeper stopped. */
  SweepCompleted: 'SweepCompleted',
  Evaluated: 'Evaluated',
  Rescheduled: 'Rescheduled',
  Warned: 'Warned',
  Cancelled: 'Cancelled',
  /** Cancels that ended cancel_failed or cancel_unconfirmed: an execution may still run. */
  CancelFailures: 'CancelFailures',
  HeldBackByCap: 'HeldBackByCap',
  NotificationFailures: 'NotificationFailures',
  SweepDuration: 'SweepDuration',
  DueLag: 'DueLag',
  /** Faults of the watchdog itself, each recorded on its execution. */
  Faults: 'Faults',
  /** Unreadable items taken out of enforcement. */
  Quarantined: 'Quarantined',
  /** Faults not even recordable on their execution, or a sweep that failed as a whole. */
  SweepErrors: 'SweepErrors',
  /** Overdue executions the due index lacked, found by the safety net: should never happen in AWS. */
  IndexRepairs: 'IndexRepairs',
  /** Per connection (dimension `connection`): 1 when its probe failed (credentials, route, DNS, TLS, timeout), else 0. */
  ConnectionUnhealthy: 'ConnectionUnhealthy',
  /** Runs nobody tracked, tracked by discovery this sweep. */
  Discovered: 'Discovered',
  /** Per connection, after each discovery: running on the platform and still not tracked at all. */
  Untracked: 'Untracked',
  /** Per connection, after each discovery: 1 when it did not finish (a failed list call, a budget spent, a run it could not track), else 0. */
  DiscoveryIncomplete: 'DiscoveryIncomplete',
  /** Lost-heartbeat cancels held because heartbeats were not arriving fleet-wide (docs/sweep.md "Heartbeats the watchdog could not take"). */
  HeartbeatCancelsHeld: 'HeartbeatCancelsHeld',
  /** Cancels and faults that will be retried by a later sweep (a 429, a 5xx, a timeout, a fault of the watchdog's own). */
  CancelRetries: 'CancelRetries',
  /** Work left for the next sweep because this one reached its deadline (claims, recoveries, warnings, notices). */
  Deferred: 'Deferred',
  /** For each policy cancel sent: from the moment the limit was crossed to the request sent (ms). Alarmed at the published p99 bound. */
  BreachToCancelMs: 'BreachToCancelMs',
  /** 1 when the sweep reached its deadline with due work left (the backlog is larger than one sweep), else 0. */
  SweepOverrun: 'SweepOverrun',
} as const;

export const WebhookMetric = {
  /** Responses with a 5xx status (its own dependency failed: 503; a bug: 500). */
  ServerErrors: 'WebhookServerErrors',
  /** A chat follow-up that failed on its last delivery: it goes to the dead-letter queue, someone did not hear back. */
  FollowUpsGivenUp: 'FollowUpsGivenUp',
} as const;

/** Environment variable names shared by the construct and the handlers. */
export const ENV = {
  table: 'WATCHDOG_TABLE',
  configFile: 'WATCHDOG_CONFIG_FILE',
  metricsNamespace: 'WATCHDOG_METRICS_NAMESPACE',
  configHash: 'WATCHDOG_CONFIG_SHA256',
  /** The webhook's follow-up queue (Lambda): chat follow-ups run in a second invocation. */
  followUpQueue: 'WATCHDOG_FOLLOWUP_QUEUE_URL',
  /** The follow-up queue's maxReceiveCount: the consumer counts a failure on the last delivery (FollowUpsGivenUp). */
  followUpReceives: 'WATCHDOG_FOLLOWUP_RECEIVES',
  /** The sweeper's schedule (ms): each sweep ends before the next one is due. */
  sweepEveryMs: 'WATCHDOG_SWEEP_EVERY_MS',
} as const;
