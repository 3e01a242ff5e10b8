/** `watchdog discord`: Discord setup: `watchdog discord command` prints the /watchdog command to register (PUT /applications/<id>/commands). */
import { InputError } from '../../errors.js';
import { DISCORD_COMMAND } from '../../http/discord-command.js';
import type { Command } from 'commander';
import type { Cli } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { io } = cli;
  program
    .command('discord')
    .description('Discord setup: `watchdog discord command` prints the /watchdog command to register (PUT /applications/<id>/commands)')
    .argument('<what>', 'command')
    .action((what: string) => {
      if (what !== 'command') throw new InputError(`expected "command", got "${what}"`);
      io.out(JSON.stringify([DISCORD_COMMAND], null, 2));
    });
}
