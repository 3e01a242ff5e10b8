/** Human output for the CLI: compact tables, durations, no JSON walls. */
import { formatDuration } from '../core/duration.js';
import type { AuditEvent, Execution } from '../core/model.js';
import { approvalText } from '../core/approval.js';
import { progressFraction } from '../core/model.js';
import { type Policy, describeLimits, effectiveStart } from '../core/policy.js';
import type { SweepSummary } from '../app/sweep.js';
import type { CoverageRow } from '../app/coverage.js';

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function progressText(e: Execution): string {
  const f = progressFraction(e.progress);
  if (f === undefined) return e.progress ? String(e.progress.done) : '-';
  return `${Math.round(f * 100)}%`;
}

/** Time run so far (until its end once ended) and the runtime limit with extensions, when there is one. */
export function runtimeOf(e: Execution, policy: Policy, now: number): { elapsedMs: number; limitMs?: number } {
  const limit = describeLimits(e, policy, now).find((l) => l.reason === 'runtime')?.limit;
  return { elapsedMs: Math.max(0, (e.endedAt ?? now) - effectiveStart(e)), ...(limit === undefined ? {} : { limitMs: limit }) };
}

/** `12s/1m`, or just `12s` without a runtime limit. */
export const runtimeText = (r: { elapsedMs: number; limitMs?: number }): string =>
  r.limitMs === undefined ? formatDuration(r.elapsedMs) : `${formatDuration(r.elapsedMs)}/${formatDuration(r.limitMs)}`;

export const costText = (e: Execution): string => (e.costUsd === undefined ? '-' : `$${e.costUsd.toFixed(2)}`);

export function executionRows(items: Execution[], policyOf: (e: Execution) => Policy, now: number): string[][] {
  const rows = [['ID', 'CONNECTION', 'EXTERNAL ID', 'POLICY', 'STATE', 'ELAPSED/LIMIT', 'PROGRESS', 'COST']];
  for (const e of items) {
    rows.push([
      e.id,
      e.connection,
      e.externalId.length > 28 ? `${e.externalId.slice(0, 27)}…` : e.externalId,
      e.policy,
      e.state,
      runtimeText(runtimeOf(e, policyOf(e), now)),
      progressText(e),
      costText(e),
    ]);
  }
  return rows;
}

export function showText(e: Execution, events: AuditEvent[], policy: Policy, now: number): string {
  const iso = (t: number | undefined) => (t === undefined ? '-' : new Date(t).toISOString());
  const lines = [
    `${e.id}  ${e.state}${e.stopReasons ? ` (${e.stopReasons.join(', ')})` : ''}`,
    `  connection   ${e.connection} (${e.provider})  external id ${e.externalId}`,
    `  policy       ${e.policy}${policy.mode === 'dry-run' ? ' [dry-run]' : ''}`,
    `  labels       ${
      Object.entries(e.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '-'
    }`,
    `  started      ${iso(e.startedAt)}   tracked ${iso(e.trackedAt)}`,
    `  heartbeat    ${iso(e.lastHeartbeatAt)}${e.heartbeats ? ` (${e.heartbeats} received)` : ''}   progress ${progressText(e)} (moved ${iso(e.lastProgressAt)})`,
    ...(e.lastMessage === undefined ? [] : [`  message      ${JSON.stringify(e.lastMessage)}`]),
    `  cost         ${costText(e)}`,
    `  due          ${iso(e.dueAt)}   attempts ${e.attempts}${e.lastError ? `   last error: ${e.lastError}` : ''}`,
    '  limits:',
    ...describeLimits(e, policy, now).map((l) =>
      l.reason === 'cost'
        ? `    cost       $${l.used.toFixed(2)} of $${l.limit.toFixed(2)}`
        : `    ${l.reason.padEnd(10)} ${formatDuration(l.used)} of ${formatDuration(l.limit)}${l.deadline ? `  (deadline ${iso(l.deadline)})` : ''}`,
    ),
    ...(e.approval ? [`  approval     ${approvalText(e.approval, iso)}`] : []),
    ...(e.extensions.length
      ? ['  extensions:', ...e.extensions.map((x) => `    +${formatDuration(x.ms)} by ${x.by} at ${iso(x.at)}${x.reason ? ` — ${x.reason}` : ''}`)]
      : []),
    '  audit:',
    ...events.map(
      (ev) => `    ${iso(ev.at)}  ${ev.actor.id} via ${ev.actor.via}: ${ev.what}${ev.why ? ` [${ev.why}]` : ''}${ev.detail ? ` — ${ev.detail}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

export function sweepText(s: SweepSummary, where: string): string {
  const counts: Array<[string, number]> = [
    ['finished', s.finished],
    ['warned', s.warned],
    ['would cancel (dry-run policy, recorded)', s.wouldCancel],
    ['would cancel', s.previewCancels],
    ['would warn', s.previewWarnings],
    ['cancelled', s.cancelled],
    ['already finished', s.alreadyFinished],
    ['cancel pending', s.pending],
    ['retry later', s.retried],
    ['cancel failed', s.cancelFailed],
    ['unconfirmed', s.unconfirmed],
    ['held back (cap)', s.heldBackByCap],
    ['approval asked', s.approvalsAsked],
    ['approval unanswered', s.approvalsUnanswered],
    ['deferred (time)', s.deferredForTime],
    ['lost races', s.lostRaces],
    ['errors', s.errors],
    ['rescheduled (heartbeats moved the deadline)', s.rescheduled],
  ];
  const lines = [
    `${s.preview ? 'preview (nothing changed)' : 'sweep'} on ${where}: ${s.due} due, ${s.evaluated} evaluated, ${s.itemsRead} items read, ${s.cancelCalls} cancel calls, ${s.durationMs} ms`,
    `  ${
      counts
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'nothing to do'
    }`,
  ];
  if (s.noticesSent + s.noticesFailed > 0) lines.push(`  notifications: ${s.noticesSent} sent, ${s.noticesFailed} failed (retried later)`);
  const shown = s.actions.slice(0, 50);
  if (shown.length > 0)
    lines.push('', table([['ACTION', 'ID', 'EXECUTION', 'DETAIL'], ...shown.map((a) => [a.action, a.id, `${a.connection}/${a.externalId}`, a.detail ?? ''])]));
  if (s.actions.length > shown.length) lines.push(`  … and ${s.actions.length - shown.length} more (--json for all)`);
  return lines.join('\n');
}

/** `watchdog coverage`: one row per connection, then the untracked runs of each. */
export function coverageText(rows: readonly CoverageRow[], now: number, o: { runs?: boolean } = {}): string {
  const n = (v: number | undefined) => (v === undefined ? '-' : String(v));
  const lines = [
    table([
      ['CONNECTION', 'PROVIDER', 'RUNNING', 'TRACKED', 'BY DISCOVERY', 'UNTRACKED', 'DISCOVERY', 'LAST RUN'],
      ...rows.map((r) => [
        r.connection,
        r.provider,
        r.listable ? `${n(r.running)}${r.complete === false ? '+' : ''}` : 'no list',
        n(r.tracked),
        n(r.byDiscovery),
        n(r.untrackedCount),
        r.discover ? `every ${r.discover.every} → ${r.discover.policy}` : r.listable ? 'off' : '-',
        r.lastDiscoveryAt === undefined ? '-' : `${formatDuration(Math.max(0, now - r.lastDiscoveryAt))} ago`,
      ]),
    ]),
  ];
  for (const r of rows) {
    if (r.error) lines.push(`${r.connection}: ${r.error}`);
    if (o.runs && r.runs && r.runs.length > 0)
      lines.push('', table([['RUN', 'TRACKED BY'], ...r.runs.map((x) => [`${r.connection}/${x.externalId}`, x.trackedBy])]), '');
    if (r.untracked && r.untracked.length > 0) {
      const more = (r.untrackedCount ?? r.untracked.length) - r.untracked.length;
      lines.push(`${r.connection} untracked: ${r.untracked.join(', ')}${more > 0 ? ` … and ${more} more` : ''}`);
    }
  }
  if (rows.some((r) => r.complete === false)) lines.push('+ the listing stopped early (budget or a failed call): at least this many.');
  return lines.join('\n');
}
