/** `watchdog extend`: give an execution more time (capped by the policy maxExtension). */
import type { Command } from 'commander';
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
}
