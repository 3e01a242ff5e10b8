/** `watchdog heartbeat`: report that an execution is alive, with progress and cumulative cost. */
import type { HeartbeatInput } from '../../core/model.js';
import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { parseProgress, parseNumber } from '../parse.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('heartbeat')
    .description('report that an execution is alive, with progress and cumulative cost')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .option('--progress <p>', 'progress: "40%", "12/50" or a count')
    .option('--cost <usd>', 'cumulative cost so far in USD')
    .option('--message <text>', 'progress message')
    .action(async (id: string, o: { progress?: string; cost?: string; message?: string }) => {
      const body: HeartbeatInput = {
        ...(o.progress ? { progress: parseProgress(o.progress) } : {}),
        ...(o.cost !== undefined ? { costUsd: parseNumber('--cost', o.cost) } : {}),
        ...(o.message ? { message: o.message } : {}),
      };
      await withWatchdog(async (wd) => {
        const e = await wd.heartbeat(id, body);
        print(e, () => `heartbeat recorded for ${e.id} (${e.state}, next check ${e.dueAt ? new Date(e.dueAt).toISOString() : '-'})`);
      });
    });
}
