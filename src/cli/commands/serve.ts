/** `watchdog serve`: serve the webhook (Slack, Discord, Teams, hooks, tracking API) on 127.0.0.1. */
import { serveWebhook } from '../../http/server.js';
import { Webhook } from '../../http/webhook.js';
import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { parsePort } from '../parse.js';

export function register(program: Command, cli: Cli): void {
  const { io, withRuntime } = cli;
  program
    .command('serve')
    .description('serve the webhook (Slack, Discord, Teams, hooks, tracking API) on 127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', '8787')
    .option('--host <addr>', 'interface to listen on', '127.0.0.1')
    .action(async (o: { port: string; host: string }) => {
      const port = parsePort(o.port);
      await withRuntime(async (rt, target) => {
        const served = await serveWebhook(new Webhook({ runtime: rt, secrets: rt.secrets }), {
          port,
          host: o.host,
          maxBodyBytes: rt.config.webhook.maxBodyBytes,
        });
        io.out(
          `watchdog: webhook on ${served.url} (${target.description}); routes: /slack/commands /slack/interactions /discord/interactions /teams/messages /hooks/cancel /v1/executions /healthz; Ctrl-C stops`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await served.close();
      });
    });
}
