/** `watchdog config`: work with the watchdog config. */
import { loadConfig } from '../../config/file.js';
import type { Command } from 'commander';
import { type Cli, resolveConfigPath } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print } = cli;
  const g = cli.opts;
  const config = program.command('config').description('work with the watchdog config');
  config
    .command('validate')
    .description('validate a config file: every problem with its exact path')
    .argument('[file]', 'config file (default: as --config)')
    .action((file: string | undefined) => {
      const f = resolveConfigPath(file ?? g().config);
      const c = loadConfig(f);
      print(
        { ok: true, file: f, policies: c.policies.map((p) => p.name), connections: [...c.connections.keys()] },
        () => `${f}: valid (${c.policies.length} policies, ${[...c.connections.keys()].length} connections)`,
      );
    });
}
