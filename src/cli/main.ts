/**
 * The `watchdog` CLI: the program, its global options and one file per command
 * (`src/cli/commands/`), sharing `context.ts` (output, the runtime on the chosen table) and
 * `parse.ts` (option parsing). Human output by default, `--json` for scripts; any error
 * exits non-zero with a one-line reason on stderr.
 */
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { Watchdog } from '../app/service.js';
import { loadConfig } from '../config/file.js';
import type { WatchdogConfig } from '../config/load.js';
import { ConfigError, WatchdogError } from '../errors.js';
import { type Target, openTarget, withOverrides } from '../local/target.js';
import { type Runtime, buildRuntime } from '../runtime.js';
import { register as trackCommand } from './commands/track.js';
import { register as heartbeatCommand } from './commands/heartbeat.js';
import { register as finishCommand } from './commands/finish.js';
import { register as listCommand } from './commands/list.js';
import { register as reportCommand } from './commands/report.js';
import { register as showCommand } from './commands/show.js';
import { register as coverageCommand } from './commands/coverage.js';
import { register as sweepCommand } from './commands/sweep.js';
import { register as cancelCommand } from './commands/cancel.js';
import { register as extendCommand } from './commands/extend.js';
import { register as serveCommand } from './commands/serve.js';
import { register as discordCommand } from './commands/discord.js';
import { register as doctorCommand } from './commands/doctor.js';
import { register as signCommand } from './commands/sign.js';
import { register as startCommand } from './commands/start.js';
import { register as providerCommand } from './commands/provider.js';
import { register as simulateCommand } from './commands/simulate.js';
import { register as configCommand } from './commands/config.js';
import { type Cli, ExitCode, type GlobalOpts, type Io, packageVersion, resolveConfigPath } from './context.js';
import { AWS_ACCESS, AWS_ACCESS_HINT } from './doctor.js';

export function buildProgram(io: Io): Command {
  const program = new Command('watchdog')
    .description('Runaway Watchdog: stop runaway executions on AI/data platforms before they burn time and money.')
    .option(
      '-c, --config <file>',
      "watchdog config (YAML/JSON); default $WATCHDOG_CONFIG, ./watchdog.yaml, then the demo's (examples/demo.yaml; `start` skips ./watchdog.yaml)",
    )
    .option('--table <name>', 'use a real DynamoDB table instead of the embedded store')
    .option('--region <region>', 'AWS region of --table and of Secrets Manager')
    .option('--endpoint <url>', 'DynamoDB endpoint (DynamoDB Local, a running dynalite)')
    .option('--data-dir <dir>', 'embedded store folder (default: settings.dataDir)')
    .option('--json', 'machine-readable output')
    .version(packageVersion(), '-V, --version', 'the version of runaway-watchdog')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const opts = (): GlobalOpts => program.opts<GlobalOpts>();
  // --region is the region of every AWS call this command makes: the table and the secrets.
  program.hook('preAction', () => {
    const region = opts().region;
    if (region) process.env.AWS_REGION = region;
  });

  async function withRuntime<T>(fn: (rt: Runtime, target: Target) => Promise<T>): Promise<T> {
    const o = opts();
    const config: WatchdogConfig = loadConfig(resolveConfigPath(o.config));
    const target = await openTarget({
      ...(o.table ? { table: o.table } : {}),
      ...(o.region ? { region: o.region } : {}),
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      dataDir: o.dataDir ? path.resolve(o.dataDir) : config.settings.dataDir,
      defaultTable: config.settings.tableName,
    });
    try {
      const effective = withOverrides(config, target.overrides);
      return await fn(
        buildRuntime(effective, { client: target.client, tableName: target.tableName, holder: `cli-${os.userInfo().username}-${process.pid}` }),
        target,
      );
    } finally {
      await target.close();
    }
  }

  const cli: Cli = {
    io,
    opts,
    print: (json, human) => io.out(opts().json ? JSON.stringify(json, null, 2) : human()),
    withRuntime,
    withWatchdog: <T>(fn: (wd: Watchdog, target: Target) => Promise<T>) => withRuntime((rt, target) => fn(rt.watchdog, target)),
  };

  trackCommand(program, cli);
  heartbeatCommand(program, cli);
  finishCommand(program, cli);
  listCommand(program, cli);
  reportCommand(program, cli);
  showCommand(program, cli);
  coverageCommand(program, cli);
  sweepCommand(program, cli);
  cancelCommand(program, cli);
  extendCommand(program, cli);
  serveCommand(program, cli);
  discordCommand(program, cli);
  doctorCommand(program, cli);
  signCommand(program, cli);
  startCommand(program, cli);
  providerCommand(program, cli);
  simulateCommand(program, cli);
  configCommand(program, cli);
  return program;
}

/** Run the CLI; returns the exit code. */
export async function runCli(argv: string[], io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  const program = buildProgram(io);
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (typeof code === 'string' && code.startsWith('commander.')) return 2;
    if (err instanceof ExitCode) return err.code;
    if (err instanceof ConfigError) {
      for (const p of err.problems) io.err(`watchdog: ${p}`);
      return 1;
    }
    if (err instanceof WatchdogError) io.err(`watchdog: ${err.message}`);
    else if (AWS_ACCESS.test((err as Error)?.message ?? '')) io.err(`watchdog: no AWS access (${(err as Error).message}): ${AWS_ACCESS_HINT}`);
    else io.err(`watchdog: unexpected error: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}
