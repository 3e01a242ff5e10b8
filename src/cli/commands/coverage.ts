/** `watchdog coverage`: per connection: running on the platform vs tracked, the untracked runs listed (lists each platform now). */
import { InputError } from '../../errors.js';
import { coverageText } from '../format.js';
import type { Command } from 'commander';
import type { Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print, withRuntime } = cli;
  program
    .command('coverage')
    .description('per connection: running on the platform vs tracked, the untracked runs listed (lists each platform now)')
    .argument('[connections...]', 'only these connections (default: all)')
    .option('--recorded', "read each connection's last discovery instead of listing now (what chat shows)")
    .option('--runs', 'also list every running run and who tracks it (a tracker, discovery, or nobody)')
    .action(async (connections: string[], o: { recorded?: boolean; runs?: boolean }) => {
      await withRuntime(async (rt) => {
        for (const c of connections)
          if (!rt.config.connections.has(c)) throw new InputError(`unknown connection "${c}"; expected one of ${[...rt.config.connections.keys()].join(', ')}`);
        const rows = await rt.coverage({ live: !o.recorded, ...(connections.length > 0 ? { connections } : {}) });
        print(rows, () => coverageText(rows, Date.now(), { runs: o.runs ?? false }));
      });
    });
}
