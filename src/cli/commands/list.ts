/** `watchdog list`: list tracked executions. */
import { ExecutionState } from '../../core/model.js';
import { InputError } from '../../errors.js';
import { executionRows, table } from '../format.js';
import { type Command, Option } from 'commander';
import type { Cli } from '../context.js';
import { parseLabels, parseNumber } from '../parse.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('list')
    .description('list tracked executions')
    .addOption(
      new Option('--state <state>', 'only this state (quarantined: stored items that cannot be read)').choices([...ExecutionState.options, 'quarantined']),
    )
    .option('--policy <name>', 'only this policy')
    .option('--connection <name>', 'only this connection')
    .option('--label <key=value>', 'only with this label')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <cursor>', 'continue from a previous page')
    .action(async (o: { state?: ExecutionState | 'quarantined'; policy?: string; connection?: string; label?: string; limit: string; cursor?: string }) => {
      if (o.state === 'quarantined') {
        await withWatchdog(async (wd, target) => {
          const items = await wd.store.quarantined();
          print({ items }, () =>
            items.length === 0
              ? `no quarantined items (${target.description})`
              : table([
                  ['ID', 'CONNECTION', 'EXTERNAL ID', 'SINCE', 'WHY'],
                  ...items.map((q) => [q.id, q.connection ?? '?', q.externalId ?? '?', q.at ? new Date(q.at).toISOString() : '?', q.error]),
                ]),
          );
        });
        return;
      }
      const state = o.state;
      const label = o.label ? Object.entries(parseLabels([o.label]) ?? {})[0] : undefined;
      const limit = parseNumber('--limit', o.limit) ?? 50;
      if (!Number.isInteger(limit) || limit < 1) throw new InputError(`--limit expects a positive integer, got "${o.limit}"`);
      await withWatchdog(async (wd, target) => {
        const page = await wd.list({
          limit,
          ...(state ? { state } : {}),
          ...(o.policy ? { policy: o.policy } : {}),
          ...(o.connection ? { connection: o.connection } : {}),
          ...(label ? { label: { key: label[0], value: label[1] } } : {}),
          ...(o.cursor ? { cursor: o.cursor } : {}),
        });
        print(page, () => {
          if (page.items.length === 0) return `no tracked executions (${target.description})`;
          const more = page.cursor ? `\nmore: watchdog list --cursor ${page.cursor}` : '';
          return table(executionRows(page.items, (e) => wd.policyOf(e), Date.now())) + more;
        });
      });
    });
}
