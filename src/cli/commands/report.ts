/** `watchdog report`: what the watchdog did over a window (JSON with --json, else a table). */
import type { Command } from 'commander';
import { buildReport } from '../../app/report.js';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { InputError } from '../../errors.js';
import type { Cli } from '../context.js';
import { table } from '../format.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('report')
    .description('what the watchdog did: runs watched, warned, extended, cancelled (by limit, by person), cost and burn rate stopped, breach to cancel')
    .option('--since <duration>', 'the window, back from now', '7d')
    .action(async (o: { since: string }) => {
      const ms = parseDuration(o.since);
      if (ms === undefined) throw new InputError(`--since expects a duration like "7d" or "24h", got ${JSON.stringify(o.since)}`);
      await withWatchdog(async (wd, target) => {
        const until = Date.now();
        const r = await buildReport(wd, until - ms, until);
        const count = (m: Record<string, number>) =>
          Object.entries(m)
            .sort((a, b) => b[1] - a[1])
            .map(([k, n]) => `${k} ${n}`)
            .join(', ') || '-';
        const lag = r.breachToCancelMs;
        print(r, () =>
          [
            `report for the last ${formatDuration(ms)} (${r.since} → ${r.until}, ${target.description})`,
            table([
              ['WHAT', 'COUNT'],
              ['runs watched', String(r.watched)],
              ['warned', String(r.warned)],
              ['extended', String(r.extended)],
              ['would cancel (dry-run)', String(r.wouldCancel)],
              [
                'approval asked',
                `${r.approvals.asked} (kept ${r.approvals.kept}, cancelled ${r.approvals.cancelled}, unanswered ${r.approvals.unanswered}, waiting ${r.approvals.waiting})`,
              ],
              ['cancelled', String(r.cancelled)],
              ['  by limit', count(r.cancelledByLimit)],
              ['  by person', count(r.cancelledByPerson)],
              ['finished before the cancel', String(r.finishedBeforeCancel)],
              ['cancel failed / unconfirmed', `${r.cancelFailed} / ${r.cancelUnconfirmed} (${r.stoppedAfterAlert} seen stopped later)`],
              ['cost at cancel', `$${r.costAtCancelUsd.toFixed(2)}`],
              ['burn rate stopped', `$${r.burnRateStoppedUsdPerHour.toFixed(2)}/h`],
              [
                'breach → cancel',
                lag.count === 0
                  ? '-'
                  : `p50 ${formatDuration(lag.p50!)}, p95 ${formatDuration(lag.p95!)}, max ${formatDuration(lag.max!)} (${lag.count} cancels)`,
              ],
            ]),
          ].join('\n'),
        );
      });
    });
}
