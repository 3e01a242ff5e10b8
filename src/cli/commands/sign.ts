/** `watchdog sign`: print a signed curl for a local webhook route (try a Slack cancel without Slack). */
import { loadConfig } from '../../config/file.js';
import { InputError } from '../../errors.js';
import { secretsFor } from '../../runtime.js';
import { slackCurl } from '../../http/verify.js';
import { readSecretField } from '../../secrets.js';
import { shellQuote, signedHeaders, targetOf } from '../../security/signing.js';
import type { Command } from 'commander';
import path from 'node:path';
import { runningWebhook } from '../../local/target.js';
import { type Cli, resolveConfigPath } from '../context.js';

export function register(program: Command, cli: Cli): void {
  const { io } = cli;
  const g = cli.opts;
  program
    .command('sign')
    .description('print a signed curl for a local webhook route (try a Slack cancel without Slack)')
    .argument('<route>', 'slack | hook')
    .argument('<text...>', 'slack: the /watchdog text, e.g. "cancel wd_… too slow"; hook: the execution id')
    .option('--url <base>', 'webhook base URL (default: the running `watchdog start`, else http://127.0.0.1:8787)')
    .option('--user <id>', 'Slack user id to act as', 'U012ABCDEF')
    .option('--response-url <url>', 'Slack response_url to receive the outcome')
    .action(async (route: string, words: string[], opts: { url?: string; user: string; responseUrl?: string }) => {
      const config = loadConfig(resolveConfigPath(g().config));
      const dataDir = g().dataDir ? path.resolve(g().dataDir!) : config.settings.dataDir;
      const o = { ...opts, url: opts.url ?? (await runningWebhook(dataDir)) ?? 'http://127.0.0.1:8787' };
      const secrets = secretsFor(config);
      if (route === 'slack') {
        if (!config.webhook.slack) throw new InputError('webhook.slack is not configured');
        const secret = await readSecretField(secrets, config.webhook.slack.secret, 'signingSecret');
        const body = new URLSearchParams({
          command: '/watchdog',
          text: words.join(' '),
          user_id: o.user,
          channel_id: 'C012ABCDEF',
          ...(o.responseUrl ? { response_url: o.responseUrl } : {}),
        }).toString();
        io.out(slackCurl(`${o.url}/slack/commands`, secret, body));
      } else if (route === 'hook') {
        if (!config.webhook.hooks) throw new InputError('webhook.hooks is not configured');
        const secret = await readSecretField(secrets, config.webhook.hooks.secret, 'signingSecret');
        const body = JSON.stringify({ id: words[0], reason: words.slice(1).join(' ') || 'signed hook' });
        const url = `${o.url.replace(/\/+$/, '')}/hooks/cancel`;
        const headers = { 'Content-Type': 'application/json', ...signedHeaders(secret, { method: 'POST', target: targetOf(url), body }) };
        io.out(
          `curl -s ${shellQuote(url)} ${Object.entries(headers)
            .map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)}`)
            .join(' ')} --data ${shellQuote(body)}`,
        );
      } else throw new InputError(`route must be slack or hook, got "${route}"`);
      io.err('(valid for 5 minutes)');
    });
}
