/** `watchdog sweep`: run the sweep: warn, cancel and reschedule what is due (the scheduled Lambda, from here). */
import { InputError } from '../../errors.js';
import { parseDuration } from '../../core/duration.js';
import { summaryFields } from '../../app/summary.js';
import { sweepText } from '../format.js';
import { type Command, Option } from 'commander';
import { type Cli, ExitCode } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { io, print, withRuntime } = cli;
  program
    .command('sweep')
    .description('run the sweep: warn, cancel and reschedule what is due (the scheduled Lambda, from here)')
    .option('--once', 'one sweep, then exit (default: repeat every settings.sweepEvery)')
    .option('--every <duration>', 'interval between sweeps when repeating')
    .option(
      '--preview',
      "decide and print only: no writes, no provider calls, no notifications (a policy's mode: dry-run is another thing: it records and notifies)",
    )
    .addOption(new Option('--dry-run', 'the old name of --preview').hideHelp())
    .action(async (o: { once?: boolean; every?: string; preview?: boolean; dryRun?: boolean }) => {
      const preview = (o.preview ?? false) || (o.dryRun ?? false);
      await withRuntime(async (rt, target) => {
        const every = o.every === undefined ? rt.config.settings.sweepEveryMs : parseDuration(o.every);
        if (every === undefined) throw new InputError(`--every expects a duration like "30s", got "${o.every}"`);
        let failed = false;
        const once = async () => {
          const s = await rt.sweeper.run({ preview: preview });
          if (s.errors > 0 || s.cancelFailed > 0 || s.unconfirmed > 0) failed = true;
          print({ ...summaryFields(s), actions: s.actions }, () => sweepText(s, target.description));
        };
        await once();
        if (o.once || preview) {
          if (failed) throw new ExitCode(1);
          return;
        }
        await new Promise<void>((resolve) => {
          let timer: NodeJS.Timeout | undefined;
          const loop = () => {
            timer = setTimeout(
              () =>
                void once()
                  .catch((err: Error) => io.err(`sweep failed: ${err.message}`))
                  .finally(loop),
              every,
            );
          };
          process.once('SIGINT', () => {
            if (timer) clearTimeout(timer);
            resolve();
          });
          loop();
        });
      });
    });
}
