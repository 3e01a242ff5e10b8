/** `watchdog doctor`: preflight before enforcing (and on call): config, secrets, connection probes, Slack token, table, deployed config; exit 1 on any ✗. */
import { readFileSync } from 'node:fs';
import { loadConfig, parseConfigText } from '../../config/file.js';
import { placeholders } from '../../config/load.js';
import { ConfigError } from '../../errors.js';
import { type Check, doctor, doctorText } from '../doctor.js';
import type { Command } from 'commander';
import { type Cli, ExitCode, resolveConfigPath } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print, withRuntime } = cli;
  const g = cli.opts;
  program
    .command('doctor')
    .description(
      "preflight before enforcing (and on call): config, secrets, connection probes, Slack token, table, deployed config, the account's Lambda concurrency; exit 1 on any ✗",
    )
    .action(async () => {
      const file = resolveConfigPath(g().config);
      let unfilled: Check[];
      try {
        loadConfig(file);
        unfilled = placeholders(parseConfigText(readFileSync(file, 'utf8'), file)).map((p) => ({
          group: 'config',
          name: 'placeholder',
          status: 'fail',
          detail: `${p} is a placeholder: fill it in`,
        }));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const checks: Check[] = err.problems.map((p) => ({ group: 'config', name: 'config', status: 'fail', detail: p }));
        print({ ok: false, file, checks }, () => doctorText(checks));
        throw new ExitCode(1);
      }
      const region = g().region;
      const checks = [...unfilled, ...(await withRuntime((rt, target) => doctor(rt, { local: target.local, ...(region ? { region } : {}) })))];
      const ok = checks.every((c) => c.status !== 'fail');
      print(
        { ok, file, checks },
        () => `${doctorText(checks)}\n${ok ? 'all checks passed' : `${checks.filter((c) => c.status === 'fail').length} check(s) failed`} (${file})`,
      );
      if (!ok) throw new ExitCode(1);
    });
}
