/** `watchdog cancel`: cancel an execution now (same claim path as the sweep: at most one provider cancel). */
import { InputError } from '../../errors.js';
import { parseDuration } from '../../core/duration.js';
import type { Command } from 'commander';
import { type Cli, ExitCode, cliActor } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print, withRuntime } = cli;
  program
    .command('cancel')
    .description('cancel an execution now (same claim path as the sweep: at most one provider cancel)')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .option('--reason <text>', 'why (kept in the audit trail)')
    .option('--wait <duration>', 'how long to wait for the provider before leaving it to the sweep', '10s')
    .action(async (ref: string, o: { reason?: string; wait: string }) => {
      const budget = parseDuration(o.wait);
      if (budget === undefined) throw new InputError(`--wait expects a duration like "10s", got "${o.wait}"`);
      await withRuntime(async (rt) => {
        const id = rt.watchdog.resolveId(ref);
        const r = await rt.watchdog.cancelNow(id, cliActor(), o.reason, budget);
        if ('status' in r) {
          const e = r.execution;
          print(r, () =>
            r.status === 'done'
              ? `${e.id} ${e.state}${e.providerStatus ? ` (provider: ${e.providerStatus})` : ''}${e.lastError ? `: ${e.lastError}` : ''}`
              : `${e.id} ${e.state}: the provider has not answered yet; the sweep will finish it (watchdog show ${e.id})`,
          );
          if (e.state === 'cancel_failed' || e.state === 'cancel_unconfirmed') throw new ExitCode(1);
          return;
        }
        rt.watchdog.explain(ref, r, 'cancel');
      });
    });
}
