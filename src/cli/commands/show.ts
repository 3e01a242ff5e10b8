/** `watchdog show`: show one execution: limits, state and its audit trail. */
import { showText } from '../format.js';
import type { Command } from 'commander';
import type { Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('show')
    .description('show one execution: limits, state and its audit trail')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .action(async (id: string) => {
      await withWatchdog(async (wd) => {
        const { execution, events } = await wd.show(id);
        print({ execution, events }, () => showText(execution, events, wd.policyOf(execution), Date.now()));
      });
    });
}
