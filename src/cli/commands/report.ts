/** `watchdog report`: what the watchdog did over a window (JSON with --json, else a table). */
import type { Command } from 'commander';
import { buildReport, reportRows } from '../../app/report.js';
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
        print(r, () =>
          [`report for the last ${formatDuration(ms)} (${r.since} → ${r.until}, ${target.description})`, table([['WHAT', 'COUNT'], ...reportRows(r)])].join(
            '\n',
          ),
        );
      });
    });
}
