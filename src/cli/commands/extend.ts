/** `watchdog extend` and `watchdog keep`: give an execution more time (capped by the policy maxExtension). */
import type { Command } from 'commander';
import { formatDuration } from '../../core/duration.js';
import { type Cli, cliActor } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('extend')
    .description('give an execution more time (capped by the policy maxExtension)')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .argument('<duration>', 'e.g. 30m, 2h')
    .option('--reason <text>', 'why (kept in the audit trail)')
    .action(async (ref: string, duration: string, o: { reason?: string }) => {
      await withWatchdog(async (wd) => {
        const e = await wd.extend(ref, duration, cliActor(), o.reason);
        print(e, () => `${e.id} extended by ${duration} (${e.state}; next check ${e.dueAt ? new Date(e.dueAt).toISOString() : '-'})`);
      });
    });
  program
    .command('keep')
    .description('answer an approval request: keep the execution running (an extension, capped by what is left of maxExtension)')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .argument('[duration]', 'e.g. 1h', '1h')
    .action(async (ref: string, duration: string) => {
      await withWatchdog(async (wd) => {
        const e = await wd.keep(ref, duration, cliActor());
        print(
          e,
          () =>
            `${e.id} kept running for ${formatDuration(e.extensions.at(-1)?.ms ?? 0)} (${e.state}; next check ${e.dueAt ? new Date(e.dueAt).toISOString() : '-'})`,
        );
      });
    });
}
