/**
 * `watchdog report`: what the watchdog did over a window, the numbers a platform team shows to
 * justify it — runs watched, warned, extended, stopped (by limit and by person), what failed,
 * the cost at each cancel and the burn rate each cancel stopped, and how long from a limit's
 * breach to the cancel request (docs/oncall.md "The report").
 */
import { currentCost, breachAt } from '../core/policy.js';
import type { Execution, Reason, StopReason } from '../core/model.js';
import { ExecutionState } from '../core/model.js';
import { formatDuration } from '../core/duration.js';
import type { Policy } from '../core/policy.js';
import type { Message } from '../notify/types.js';
import type { ExecutionStore } from '../store/types.js';

/** What a report reads: the store, and each execution's policy (the service and the sweeper both offer it). */
export interface ReportSource {
  readonly store: ExecutionStore;
  policyOf(e: Execution): Policy;
}

export interface Report {
  since: string;
  until: string;
  /** Runs tracked before the window ended and live during it. */
  watched: number;
  warned: number;
  /** Runs extended within the window. */
  extended: number;
  /** Dry-run policies: runs that would have been cancelled. */
  wouldCancel: number;
  /** Approval mode: runs whose (latest) request was asked in the window, and how it was answered. */
  approvals: { asked: number; kept: number; cancelled: number; unanswered: number; waiting: number };
  cancelled: number;
  /** Policy cancels per limit (a cancel for two limits counts for both). */
  cancelledByLimit: Partial<Record<StopReason, number>>;
  /** People's cancels per person (their chat or CLI id). */
  cancelledByPerson: Record<string, number>;
  /** A cancel was decided, but the run had finished first. */
  finishedBeforeCancel: number;
  cancelFailed: number;
  cancelUnconfirmed: number;
  /** Of those two, seen stopped on the platform later (their incidents resolved). */
  stoppedAfterAlert: number;
  /** Reported (else estimated) cost of the cancelled runs when they were cancelled. */
  costAtCancelUsd: number;
  /** Money per hour that stopped with the cancels: each run's cost over its runtime, summed. */
  burnRateStoppedUsdPerHour: number;
  /** Policy cancels: from the moment a limit was crossed to the cancel claimed. */
  breachToCancelMs: { count: number; p50?: number; p95?: number; max?: number };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** Every execution live within [since, until], read page by page per state. */
async function* inWindow(wd: ReportSource, since: number, until: number): AsyncGenerator<Execution> {
  for (const state of ExecutionState.options) {
    let cursor: string | undefined;
    do {
      const page = await wd.store.list({ state, limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const e of page.items) if (e.trackedAt <= until && (e.endedAt === undefined || e.endedAt >= since)) yield e;
      cursor = page.cursor;
    } while (cursor);
  }
}

export async function buildReport(wd: ReportSource, since: number, until: number): Promise<Report> {
  const r: Report = {
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    watched: 0,
    warned: 0,
    extended: 0,
    wouldCancel: 0,
    approvals: { asked: 0, kept: 0, cancelled: 0, unanswered: 0, waiting: 0 },
    cancelled: 0,
    cancelledByLimit: {},
    cancelledByPerson: {},
    finishedBeforeCancel: 0,
    cancelFailed: 0,
    cancelUnconfirmed: 0,
    stoppedAfterAlert: 0,
    costAtCancelUsd: 0,
    burnRateStoppedUsdPerHour: 0,
    breachToCancelMs: { count: 0 },
  };
  const lags: number[] = [];
  for await (const e of inWindow(wd, since, until)) {
    r.watched++;
    if (Object.keys(e.warned).length > 0) r.warned++;
    if (e.extensions.some((x) => x.at >= since && x.at <= until)) r.extended++;
    if (e.wouldCancelAt !== undefined && e.wouldCancelAt >= since) r.wouldCancel++;
    const a = e.approval;
    if (a !== undefined && a.askedAt >= since && a.askedAt <= until) {
      r.approvals.asked++;
      const key = a.answer === 'keep' ? 'kept' : a.answer === 'cancel' ? 'cancelled' : a.answer === 'silence' ? 'unanswered' : 'waiting';
      r.approvals[key]++;
    }
    const ended = e.endedAt !== undefined && e.endedAt >= since && e.endedAt <= until;
    if (!ended) continue;
    if (e.state === 'cancel_failed') r.cancelFailed++;
    if (e.state === 'cancel_unconfirmed') r.cancelUnconfirmed++;
    if (e.stoppedAt !== undefined) r.stoppedAfterAlert++;
    if (e.state === 'finished' && e.stopReasons !== undefined) r.finishedBeforeCancel++;
    if (e.state !== 'cancelled') continue;
    r.cancelled++;
    const policy = wd.policyOf(e);
    const byPolicy = e.requestedBy === undefined || e.requestedBy.id.startsWith('policy:');
    if (byPolicy) for (const why of e.stopReasons ?? []) r.cancelledByLimit[why] = (r.cancelledByLimit[why] ?? 0) + 1;
    else r.cancelledByPerson[e.requestedBy!.id] = (r.cancelledByPerson[e.requestedBy!.id] ?? 0) + 1;
    const start = Math.min(e.startedAt, e.trackedAt);
    const cost = currentCost(e, policy, e.endedAt!);
    if (cost !== undefined) {
      r.costAtCancelUsd += cost;
      const hours = (e.endedAt! - start) / 3_600_000;
      if (hours > 0) r.burnRateStoppedUsdPerHour += cost / hours;
    }
    if (byPolicy && e.stopReasons) {
      const found = await wd.store.getWithEvents(e.id);
      const claimedAt = found?.events.find((ev) => ev.to === 'cancelling' || ev.to === 'cancel_requested')?.at;
      const limits = e.stopReasons.filter((x): x is Reason => x !== 'manual');
      const breach = claimedAt === undefined ? undefined : breachAt(e, policy, limits, claimedAt);
      if (claimedAt !== undefined && breach !== undefined) lags.push(Math.max(0, claimedAt - breach));
    }
  }
  r.costAtCancelUsd = Math.round(r.costAtCancelUsd * 100) / 100;
  r.burnRateStoppedUsdPerHour = Math.round(r.burnRateStoppedUsdPerHour * 100) / 100;
  lags.sort((a, b) => a - b);
  r.breachToCancelMs = lags.length === 0 ? { count: 0 } : { count: lags.length, p50: pct(lags, 50)!, p95: pct(lags, 95)!, max: lags.at(-1)! };
  return r;
}

/** The report as labelled rows: the CLI's table and the digest's lines. */
export function reportRows(r: Report): Array<[string, string]> {
  const count = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '-';
  const lag = r.breachToCancelMs;
  const a = r.approvals;
  return [
    ['runs watched', String(r.watched)],
    ['warned', String(r.warned)],
    ['extended', String(r.extended)],
    ['would cancel (dry-run)', String(r.wouldCancel)],
    ['approval asked', `${a.asked} (kept ${a.kept}, cancelled ${a.cancelled}, unanswered ${a.unanswered}, waiting ${a.waiting})`],
    ['cancelled', String(r.cancelled)],
    ['  by limit', count(r.cancelledByLimit)],
    ['  by person', count(r.cancelledByPerson)],
    ['finished before the cancel', String(r.finishedBeforeCancel)],
    ['cancel failed / unconfirmed', `${r.cancelFailed} / ${r.cancelUnconfirmed} (${r.stoppedAfterAlert} seen stopped later)`],
    ['cost at cancel', `$${r.costAtCancelUsd.toFixed(2)}`],
    ['burn rate stopped', `$${r.burnRateStoppedUsdPerHour.toFixed(2)}/h`],
    [
      'breach → cancel',
      lag.count === 0 ? '-' : `p50 ${formatDuration(lag.p50!)}, p95 ${formatDuration(lag.p95!)}, max ${formatDuration(lag.max!)} (${lag.count} cancels)`,
    ],
  ];
}

/** The digest (settings.digest): the report of the last period as one message. */
export function digestMessage(r: Report, periodMs: number): Message {
  const rows = reportRows(r);
  return {
    kind: 'digest',
    severity: 'info',
    title: `Runaway Watchdog: the last ${formatDuration(periodMs)}`,
    text: `${r.watched} runs watched, ${r.cancelled} cancelled ($${r.burnRateStoppedUsdPerHour.toFixed(2)}/h of spend stopped), ${r.warned} warned. ${r.since.slice(0, 16)} → ${r.until.slice(0, 16)} UTC.`,
    fields: rows.map(([k, v]) => [k.trim(), v]),
    data: { kind: 'digest', report: r },
  };
}
