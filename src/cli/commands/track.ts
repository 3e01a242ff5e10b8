/** `watchdog track`: start tracking an execution (idempotent on connection + external id). */
import type { Command } from 'commander';
import { type Cli, cliActor } from '../context.js';
import { parseLabels, parseNumber, collect } from '../parse.js';

export function register(program: Command, cli: Cli): void {
  const { print, withWatchdog } = cli;
  program
    .command('track')
    .description('start tracking an execution (idempotent on connection + external id)')
    .argument('<connection>', 'connection name from the config')
    .argument('<externalId>', "the platform's execution id")
    .option('--policy <name>', 'explicit policy (default: first matching rule, else defaultPolicy)')
    .option('--label <key=value>', 'label (repeatable)', collect)
    .option('--owner <who>', 'owner to notify')
    .option('--started-at <iso>', 'when it started (ISO 8601); default now')
    .option('--max-runtime <duration>', 'tighten maxRuntime for this execution')
    .option('--stall-after <duration>', 'tighten stallAfter')
    .option('--heartbeat-timeout <duration>', 'tighten heartbeatTimeout')
    .option('--max-cost <usd>', 'tighten maxCostUsd')
    .action(async (connection: string, externalId: string, o: Record<string, string | string[] | undefined>) => {
      const limits = {
        ...(o.maxRuntime ? { maxRuntime: o.maxRuntime } : {}),
        ...(o.stallAfter ? { stallAfter: o.stallAfter } : {}),
        ...(o.heartbeatTimeout ? { heartbeatTimeout: o.heartbeatTimeout } : {}),
        ...(o.maxCost ? { maxCostUsd: parseNumber('--max-cost', o.maxCost as string) } : {}),
      };
      const labels = parseLabels(o.label as string[] | undefined);
      const body = {
        connection,
        externalId,
        ...(o.policy ? { policy: o.policy } : {}),
        ...(labels ? { labels } : {}),
        ...(o.owner ? { owner: o.owner } : {}),
        ...(o.startedAt ? { startedAt: o.startedAt } : {}),
        ...(Object.keys(limits).length ? { limits } : {}),
      };
      await withWatchdog(async (wd) => {
        const { created, execution } = await wd.track(body, cliActor());
        print(
          { created, execution },
          () =>
            `${created ? 'tracking' : 'already tracked'} ${execution.id} (${execution.connection}/${execution.externalId}, policy ${execution.policy}, ${execution.state})`,
        );
      });
    });
}
