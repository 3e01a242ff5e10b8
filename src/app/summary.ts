/**
 * What one sweep did: counts per outcome and one action line per execution acted on. Every
 * change goes through `Tally.record(kind, …)`: an outcome and its count cannot drift apart.
 */
import type { ProbeReport } from './probe.js';
import type { DiscoveryRecord } from '../store/probes.js';

export type ActionKind =
  | 'finished'
  | 'warned'
  | 'would_cancel'
  | 'cancelled'
  | 'already_finished'
  | 'cancel_pending'
  | 'retry'
  | 'cancel_failed'
  | 'cancel_unconfirmed'
  /** A run the watchdog could not stop, seen stopped on the platform later (its incident resolved). */
  | 'stopped_after_alert'
  | 'held_back'
  /** Approval mode: people asked about a breach, and a request nobody answered in time. */
  | 'approval_asked'
  | 'approval_unanswered'
  /** A lost-heartbeat cancel held: heartbeats were not arriving fleet-wide (docs/sweep.md "Heartbeats the watchdog could not take"). */
  | 'heartbeat_held'
  | 'deferred'
  | 'lost_race'
  | 'fault'
  | 'quarantined'
  | 'error'
  /** `watchdog sweep --preview`: what it would do; nothing written, called or sent (not a policy's dry-run, which records `would_cancel`). */
  | 'preview_cancel'
  | 'preview_warn';

export interface SweepAction {
  id: string;
  connection: string;
  externalId: string;
  action: ActionKind;
  detail?: string;
}

export interface SweepSummary {
  /** The sweeper that ran it (its claims' holder). */
  sweeper: string;
  startedAt: number;
  durationMs: number;
  preview: boolean;
  itemsRead: number;
  due: number;
  evaluated: number;
  /** Due by a deadline that heartbeats have since pushed back: looked at, moved on, no provider call (docs/cost.md). */
  rescheduled: number;
  observed: number;
  finished: number;
  warned: number;
  wouldCancel: number;
  /** Preview only: cancels and warnings it would have made. */
  previewCancels: number;
  previewWarnings: number;
  cancelCalls: number;
  cancelled: number;
  alreadyFinished: number;
  pending: number;
  retried: number;
  cancelFailed: number;
  unconfirmed: number;
  /** Runs it could not stop (cancel_failed / cancel_unconfirmed), seen stopped on the platform since: their incidents resolve. */
  stoppedAfterAlert: number;
  heldBackByCap: number;
  /** Approval mode: requests sent, and requests nobody answered in time (onSilence applied). */
  approvalsAsked: number;
  approvalsUnanswered: number;
  /** Lost-heartbeat cancels held because heartbeats were not arriving fleet-wide (alarmed). */
  heartbeatHeld: number;
  deferredForTime: number;
  lostRaces: number;
  noticesSent: number;
  noticesFailed: number;
  /** Faults of the watchdog itself, each recorded on its execution (backoff, then cancel_failed). */
  faults: number;
  /** Unparsable items flagged this sweep (kept, out of the due index, alerted once). */
  quarantined: number;
  /** Faults that could not even be recorded on their execution (the store failing): alarmed. */
  errors: number;
  /** Connections probed this sweep (see probe.ts). */
  probes: ProbeReport[];
  /** Runs nobody tracked, tracked this sweep by discovery (see discovery.ts). */
  discovered: number;
  /** Connections discovered on this sweep, one record each. */
  discoveries: DiscoveryRecord[];
  /** Overdue executions the due index did not hold, found by the safety net and re-indexed: should never happen in AWS. */
  indexRepairs: number;
  /** now − dueAt for each execution acted on (ms), sorted. */
  dueLagMs: number[];
  /** For each policy cancel sent: from the moment its limit was crossed to the request sent (ms). */
  breachToCancelMs: number[];
  actions: SweepAction[];
}

/** Counters that are no outcome of one execution's handling. */
export type Count = 'evaluated' | 'rescheduled' | 'observed' | 'cancelCalls' | 'noticesSent' | 'noticesFailed' | 'indexRepairs' | 'faults';

/** The counter each outcome moves. */
const COUNTER = {
  finished: 'finished',
  warned: 'warned',
  would_cancel: 'wouldCancel',
  cancelled: 'cancelled',
  already_finished: 'alreadyFinished',
  cancel_pending: 'pending',
  retry: 'retried',
  cancel_failed: 'cancelFailed',
  cancel_unconfirmed: 'unconfirmed',
  stopped_after_alert: 'stoppedAfterAlert',
  held_back: 'heldBackByCap',
  approval_asked: 'approvalsAsked',
  approval_unanswered: 'approvalsUnanswered',
  heartbeat_held: 'heartbeatHeld',
  deferred: 'deferredForTime',
  lost_race: 'lostRaces',
  fault: 'faults',
  quarantined: 'quarantined',
  error: 'errors',
  preview_cancel: 'previewCancels',
  preview_warn: 'previewWarnings',
} as const satisfies Record<ActionKind, keyof SweepSummary>;

export function emptySummary(sweeper: string, startedAt: number, preview: boolean): SweepSummary {
  return {
    sweeper,
    startedAt,
    durationMs: 0,
    preview,
    itemsRead: 0,
    due: 0,
    evaluated: 0,
    rescheduled: 0,
    observed: 0,
    finished: 0,
    warned: 0,
    wouldCancel: 0,
    previewCancels: 0,
    previewWarnings: 0,
    cancelCalls: 0,
    cancelled: 0,
    alreadyFinished: 0,
    pending: 0,
    retried: 0,
    cancelFailed: 0,
    unconfirmed: 0,
    stoppedAfterAlert: 0,
    heldBackByCap: 0,
    approvalsAsked: 0,
    approvalsUnanswered: 0,
    heartbeatHeld: 0,
    deferredForTime: 0,
    lostRaces: 0,
    noticesSent: 0,
    noticesFailed: 0,
    faults: 0,
    quarantined: 0,
    errors: 0,
    probes: [],
    discovered: 0,
    discoveries: [],
    indexRepairs: 0,
    dueLagMs: [],
    breachToCancelMs: [],
    actions: [],
  };
}

export class Tally {
  constructor(readonly summary: SweepSummary) {}

  /** One outcome on one execution: its counter and its action line, together. */
  record(kind: ActionKind, e: { id: string; connection?: string; externalId?: string }, detail?: string): void {
    this.summary[COUNTER[kind]]++;
    this.summary.actions.push({ id: e.id, connection: e.connection ?? '?', externalId: e.externalId ?? '?', action: kind, ...(detail ? { detail } : {}) });
  }

  /** A counter that is no outcome (evaluated, observed, a provider call, a notice, …); an error of the sweep itself. */
  count(what: Count | 'errors'): void {
    this.summary[what]++;
  }
}

const pct = (sorted: number[], p: number): number | undefined =>
  sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Counts and lag percentiles, without the per-execution lists: for logs, metrics and `--json`. */
export function summaryFields(s: SweepSummary): Record<string, number | string | boolean | undefined> {
  const counts: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(s))
    if (k !== 'actions' && k !== 'dueLagMs' && k !== 'breachToCancelMs' && k !== 'probes' && k !== 'discoveries') counts[k] = v as number | string | boolean;
  counts.untracked = s.discoveries.reduce((n, d) => n + d.untracked, 0);
  counts.unhealthyConnections = s.probes
    .filter((p) => !p.healthy)
    .map((p) => p.connection)
    .join(',');
  const dueLagMs = s.dueLagMs;
  const b2c = [...s.breachToCancelMs].sort((a, b) => a - b);
  return {
    ...counts,
    dueLagP50Ms: pct(dueLagMs, 50),
    dueLagP99Ms: pct(dueLagMs, 99),
    dueLagMaxMs: dueLagMs.at(-1),
    breachToCancelP50Ms: pct(b2c, 50),
    breachToCancelMaxMs: b2c.at(-1),
  };
}

/** Several passes of one invocation as one summary: counts summed, lags and outcomes together (actions: the last 200). */
export function mergeSummaries(passes: readonly SweepSummary[]): SweepSummary {
  const first = passes[0];
  if (!first) throw new Error('no pass to merge');
  const out: SweepSummary = { ...emptySummary(first.sweeper, first.startedAt, first.preview) };
  for (const s of passes) {
    for (const [k, v] of Object.entries(s) as Array<[keyof SweepSummary, unknown]>) {
      const sums = out as unknown as Record<string, number>;
      if (typeof v === 'number' && k !== 'startedAt') sums[k] = (sums[k] ?? 0) + v;
    }
    out.dueLagMs.push(...s.dueLagMs);
    out.breachToCancelMs.push(...s.breachToCancelMs);
    out.probes.push(...s.probes);
    out.discoveries.push(...s.discoveries);
    out.actions.push(...s.actions);
  }
  out.actions.splice(0, Math.max(0, out.actions.length - 200));
  out.dueLagMs.sort((a, b) => a - b);
  return out;
}
