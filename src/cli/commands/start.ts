/** `watchdog start`: run the whole watchdog locally: embedded store, sweep, webhook (the `npm start` demo). */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../config/file.js';
import { InputError } from '../../errors.js';
import { parseDuration } from '../../core/duration.js';
import { runLocal } from '../../local/runner.js';
import type { Command } from 'commander';
import { type Cli, resolveConfigPath } from '../context.js';
import { parsePort } from '../parse.js';

export function register(program: Command, cli: Cli): void {
  const { io } = cli;
  const g = cli.opts;
  program
    .command('start')
    .description('run the whole watchdog locally: embedded store, sweep, webhook (the `npm start` demo)')
    .option('--interval <duration>', 'how often to sweep', '2s')
    .option('--port <n>', 'webhook port (0 = any free port)', '8787')
    .option('--no-demo', 'real providers from the config; no simulators, no demo executions')
    .option('--reset', 'start from an empty store: delete the data folder first (everything tracked locally is lost)')
    .option('--plain', 'a plain log, even on a terminal (default there: one live table redrawn in place)')
    .action(async (o: { interval: string; demo: boolean; port: string; reset?: boolean; plain?: boolean }) => {
      const opts = g();
      const config = loadConfig(resolveConfigPath(opts.config, { demo: o.demo }));
      const intervalMs = parseDuration(o.interval);
      if (intervalMs === undefined) throw new InputError(`--interval expects a duration like "2s", got "${o.interval}"`);
      const port = parsePort(o.port);
      const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : config.settings.dataDir;
      if (o.reset && existsSync(dataDir)) {
        rmSync(dataDir, { recursive: true, force: true });
        io.out(`watchdog: --reset: removed the store at ${dataDir}`);
      }
      await runLocal({
        config: { ...config, settings: { ...config.settings, dataDir } },
        intervalMs,
        demo: o.demo,
        port,
        out: io.out,
        live: process.stdout.isTTY === true && !o.plain,
      });
    });
}
