/** `watchdog provider`: talk to a platform directly: prove a connection works. */
import { loadConfig } from '../../config/file.js';
import { InputError } from '../../errors.js';
import type { Credentials } from '../../providers/adapter.js';
import { ProviderRegistry } from '../../providers/registry.js';
import { CANCEL_OK } from '../../providers/types.js';
import { secretsFor } from '../../runtime.js';
import type { Command } from 'commander';
import { type Cli, ExitCode, resolveConfigPath } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { print } = cli;
  const g = cli.opts;
  const provider = program.command('provider').description('talk to a platform directly: prove a connection works');
  const providerAction = (op: 'cancel' | 'status') => async (target: string, externalId: string, o: { baseUrl?: string; apiKeyEnv?: string }) => {
    const opts = g();
    const config = loadConfig(resolveConfigPath(opts.config));
    let credentials: Credentials | undefined;
    if (o.apiKeyEnv) {
      const key = process.env[o.apiKeyEnv];
      if (!key) throw new InputError(`environment variable ${o.apiKeyEnv} is empty or unset`);
      credentials = { apiKey: () => Promise.resolve(key), refresh: () => Promise.resolve(key) };
    }
    const providerId = config.connections.get(target)?.provider ?? target;
    const adapter = new ProviderRegistry(config, secretsFor(config)).build(target, {
      ...(o.baseUrl ? { baseUrl: o.baseUrl } : {}),
      ...(credentials ? { credentials } : {}),
    });
    const out = op === 'cancel' ? await adapter.cancel(externalId) : await adapter.status(externalId);
    print(out, () => {
      const st =
        'status' in out && out.status ? ` (${out.status.raw}${out.status.progress ? `, ${Math.round(out.status.progress.fraction * 100)}%` : ''})` : '';
      const extra =
        'error' in out
          ? `: ${out.error}`
          : 'httpStatus' in out
            ? ` (HTTP ${out.httpStatus})`
            : 'retryAfterMs' in out && out.retryAfterMs
              ? ` (retry after ${out.retryAfterMs}ms)`
              : '';
      return `${providerId} ${op} ${externalId}: ${out.kind}${st}${extra}`;
    });
    const good = op === 'cancel' ? CANCEL_OK.has(out.kind) : out.kind === 'status';
    if (!good) throw new ExitCode(1);
  };
  for (const op of ['cancel', 'status'] as const) {
    provider
      .command(op)
      .description(op === 'cancel' ? "call the platform's cancel; exit 0 only for cancelled, cancel_pending, already_finished" : "read the platform's status")
      .argument('<connection|provider>', 'a connection from the config, or a provider id with --base-url and --api-key-env')
      .argument('<externalId>', "the platform's execution id")
      .option('--base-url <url>', 'override the base URL (https://, or http://127.0.0.1 for simulators)')
      .option('--api-key-env <VAR>', 'read the API key from this environment variable instead of the secret')
      .action(providerAction(op));
  }
}
