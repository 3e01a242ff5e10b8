/** `watchdog finish`: mark an execution finished (stops tracking). */
import type { Command } from 'commander';
import { type Cli, cliActor } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('finish')
    .description('mark an execution finished (stops tracking)')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .option('--status <status>', "the platform's final status, e.g. succeeded")
    .action(async (id: string, o: { status?: string }) => {
      await withWatchdog(async (wd) => {
        const e = await wd.finish(id, cliActor(), o.status);
        print(e, () => `${e.id} finished${o.status ? ` (${o.status})` : ''}`);
      });
    });
}
