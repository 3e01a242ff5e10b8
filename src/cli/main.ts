/**
 * The `watchdog` CLI. Human output by default, `--json` for scripts; any error exits
 * non-zero with a one-line reason on stderr.
 */
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { loadConfig } from '../config/file.js';
import type { WatchdogConfig } from '../config/load.js';
import type { Actor, HeartbeatInput } from '../core/model.js';
import { ExecutionState } from '../core/model.js';
import { isPrototypeName } from '../core/own.js';
import { ConfigError, InputError, WatchdogError } from '../errors.js';
import { type Target, openTarget, withOverrides } from '../local/target.js';
import type { Watchdog } from '../app/service.js';
import { parseDuration } from '../core/duration.js';
import { runLocal } from '../local/runner.js';
import type { Credentials } from '../providers/adapter.js';
import { ProviderRegistry } from '../providers/registry.js';
import { CANCEL_OK } from '../providers/types.js';
import { type Runtime, buildRuntime, secretsFor } from '../runtime.js';
import { summaryFields } from '../app/sweep.js';
import { serveWebhook } from '../http/server.js';
import { Webhook } from '../http/webhook.js';
import { slackCurl } from '../http/verify.js';
import { DISCORD_COMMAND } from '../http/discord-command.js';
import { readSecretField } from '../secrets.js';
import { shellQuote, signedHeaders, targetOf } from '../security/signing.js';
import { startSimulator } from '../simulators/server.js';

/** Exit with a code, having already printed the reason. */
class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
import { type Check, doctor, doctorText } from './doctor.js';
import { coverageText, executionRows, showText, sweepText, table } from './format.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The package's root, from source (src/cli) or compiled (dist/src/cli). */
export const PACKAGE_ROOT = path.basename(path.resolve(HERE, '..', '..')) === 'dist' ? path.resolve(HERE, '..', '..', '..') : path.resolve(HERE, '..', '..');
export const EXAMPLE_CONFIG = path.join(PACKAGE_ROOT, 'examples', 'watchdog.yaml');

interface GlobalOpts {
  config?: string;
  table?: string;
  region?: string;
  endpoint?: string;
  dataDir?: string;
  json?: boolean;
}

export function resolveConfigPath(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.WATCHDOG_CONFIG) return process.env.WATCHDOG_CONFIG;
  if (existsSync('watchdog.yaml')) return 'watchdog.yaml';
  return EXAMPLE_CONFIG;
}

export const cliActor = (): Actor => ({ id: `cli:${os.userInfo().username}`, via: 'cli' });

function parseLabels(list: string[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const labels = new Map<string, string>();
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InputError(`--label expects key=value, got "${kv}"`);
    const key = kv.slice(0, eq);
    if (isPrototypeName(key)) throw new InputError(`--label: key "${key}" is reserved`);
    labels.set(key, kv.slice(eq + 1));
  }
  return Object.fromEntries(labels);
}

function parseProgress(text: string): HeartbeatInput['progress'] {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct) return { pct: Number(pct[1]) };
  const frac = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(text);
  if (frac) return { done: Number(frac[1]), total: Number(frac[2]) };
  const n = /^\d+(?:\.\d+)?$/.exec(text);
  if (n) return { done: Number(text) };
  throw new InputError(`--progress expects "40%", "12/50" or "12", got "${text}"`);
}

function parseNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new InputError(`${name} expects a number, got "${text}"`);
  return n;
}

/** `--port`: 0 (any free port) to 65535. */
function parsePort(text: string): number {
  const port = parseNumber('--port', text);
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new InputError(`--port expects 0-65535, got "${text}"`);
  return port;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export function buildProgram(io: Io): Command {
  const program = new Command('watchdog')
    .description('Runaway Watchdog: stop runaway executions on AI/data platforms before they burn time and money.')
    .option('-c, --config <file>', 'watchdog config (YAML/JSON); default $WATCHDOG_CONFIG, ./watchdog.yaml, then the bundled example')
    .option('--table <name>', 'use a real DynamoDB table instead of the embedded store')
    .option('--region <region>', 'AWS region of --table')
    .option('--endpoint <url>', 'DynamoDB endpoint (DynamoDB Local, a running dynalite)')
    .option('--data-dir <dir>', 'embedded store folder (default: settings.dataDir)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  const g = (): GlobalOpts => program.opts<GlobalOpts>();
  const print = (json: unknown, human: () => string) => io.out(g().json ? JSON.stringify(json, null, 2) : human());

  async function withWatchdog<T>(fn: (wd: Watchdog, target: Target) => Promise<T>): Promise<T> {
    return withRuntime((rt, target) => fn(rt.watchdog, target));
  }

  /** The whole runtime (store, providers, notifiers, sweeper) on the chosen table. */
  async function withRuntime<T>(fn: (rt: Runtime, target: Target) => Promise<T>): Promise<T> {
    const opts = g();
    const config: WatchdogConfig = loadConfig(resolveConfigPath(opts.config));
    const target = await openTarget({
      ...(opts.table ? { table: opts.table } : {}),
      ...(opts.region ? { region: opts.region } : {}),
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      dataDir: opts.dataDir ? path.resolve(opts.dataDir) : config.settings.dataDir,
      defaultTable: config.settings.tableName,
    });
    try {
      const effective = withOverrides(config, target.overrides);
      return await fn(
        buildRuntime(effective, { client: target.client, tableName: target.tableName, owner: `cli-${os.userInfo().username}-${process.pid}` }),
        target,
      );
    } finally {
      await target.close();
    }
  }

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

  program
    .command('heartbeat')
    .description('report that an execution is alive, with progress and cumulative cost')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .option('--progress <p>', 'progress: "40%", "12/50" or a count')
    .option('--cost <usd>', 'cumulative cost so far in USD')
    .option('--message <text>', 'progress message')
    .action(async (id: string, o: { progress?: string; cost?: string; message?: string }) => {
      const body: HeartbeatInput = {
        ...(o.progress ? { progress: parseProgress(o.progress) } : {}),
        ...(o.cost !== undefined ? { costUsd: parseNumber('--cost', o.cost) } : {}),
        ...(o.message ? { message: o.message } : {}),
      };
      await withWatchdog(async (wd) => {
        const e = await wd.heartbeat(id, body);
        print(e, () => `heartbeat recorded for ${e.id} (${e.state}, next check ${e.dueAt ? new Date(e.dueAt).toISOString() : '-'})`);
      });
    });

  program
    .command('finish')
    .description('mark an execution finished (stops tracking)')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .option('--status <status>', "the platform's final status, e.g. succeeded")
    .action(async (id: string, o: { status?: string }) => {
      await withWatchdog(async (wd) => {
        const e = await wd.finish(id, cliActor(), o.status);
        print(e, () => `${e.id} finished${o.status ? ` (${o.status})` : ''}`);
      });
    });

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

  program
    .command('show')
    .description('show one execution: limits, state and its audit trail')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .action(async (id: string) => {
      await withWatchdog(async (wd) => {
        const { execution, events } = await wd.show(id);
        print({ execution, events }, () => showText(execution, events, wd.policyOf(execution), Date.now()));
      });
    });

  program
    .command('coverage')
    .description('per connection: running on the platform vs tracked, the untracked runs listed (lists each platform now)')
    .argument('[connections...]', 'only these connections (default: all)')
    .option('--recorded', "read each connection's last discovery instead of listing now (what chat shows)")
    .option('--runs', 'also list every running run and who tracks it (a tracker, discovery, or nobody)')
    .action(async (connections: string[], o: { recorded?: boolean; runs?: boolean }) => {
      await withRuntime(async (rt) => {
        for (const c of connections)
          if (!rt.config.connections.has(c)) throw new InputError(`unknown connection "${c}"; expected one of ${[...rt.config.connections.keys()].join(', ')}`);
        const rows = await rt.coverage({ live: !o.recorded, ...(connections.length > 0 ? { connections } : {}) });
        print(rows, () => coverageText(rows, Date.now(), { runs: o.runs ?? false }));
      });
    });

  program
    .command('sweep')
    .description('run the sweep: warn, cancel and reschedule what is due (the scheduled Lambda, from here)')
    .option('--once', 'one sweep, then exit (default: repeat every settings.sweepEvery)')
    .option('--every <duration>', 'interval between sweeps when repeating')
    .option('--dry-run', 'decide and print only: no writes, no provider calls, no notifications')
    .action(async (o: { once?: boolean; every?: string; dryRun?: boolean }) => {
      await withRuntime(async (rt, target) => {
        const every = o.every === undefined ? rt.config.settings.sweepEveryMs : parseDuration(o.every);
        if (every === undefined) throw new InputError(`--every expects a duration like "30s", got "${o.every}"`);
        let failed = false;
        const once = async () => {
          const s = await rt.sweeper.run({ preview: o.dryRun ?? false });
          if (s.errors > 0 || s.cancelFailed > 0 || s.unconfirmed > 0) failed = true;
          print({ ...summaryFields(s), actions: s.actions }, () => sweepText(s, target.description));
        };
        await once();
        if (o.once || o.dryRun) {
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

  program
    .command('extend')
    .description('give an execution more time (capped by the policy maxExtension)')
    .argument('<id>', 'wd_… id or <connection>/<externalId>')
    .argument('<duration>', 'e.g. 30m, 2h')
    .option('--reason <text>', 'why (kept in the audit trail)')
    .action(async (ref: string, duration: string, o: { reason?: string }) => {
      await withWatchdog(async (wd) => {
        const e = await wd.extend(ref, duration, cliActor(), o.reason);
        print(e, () => `${e.id} extended by ${duration} (${e.state}; next check ${e.dueAt ? new Date(e.dueAt).toISOString() : '-'})`);
      });
    });

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

  program
    .command('discord')
    .description('Discord setup: `watchdog discord command` prints the /watchdog command to register (PUT /applications/<id>/commands)')
    .argument('<what>', 'command')
    .action((what: string) => {
      if (what !== 'command') throw new InputError(`expected "command", got "${what}"`);
      io.out(JSON.stringify([DISCORD_COMMAND], null, 2));
    });

  program
    .command('doctor')
    .description('preflight before enforcing (and on call): config, secrets, connection probes, Slack token, table, deployed config; exit 1 on any ✗')
    .action(async () => {
      const file = resolveConfigPath(g().config);
      try {
        loadConfig(file);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const checks: Check[] = err.problems.map((p) => ({ group: 'config', name: 'config', status: 'fail', detail: p }));
        print({ ok: false, file, checks }, () => doctorText(checks));
        throw new ExitCode(1);
      }
      const checks = await withRuntime((rt, target) => doctor(rt, { local: target.local }));
      const ok = checks.every((c) => c.status !== 'fail');
      print(
        { ok, file, checks },
        () => `${doctorText(checks)}\n${ok ? 'all checks passed' : `${checks.filter((c) => c.status === 'fail').length} check(s) failed`} (${file})`,
      );
      if (!ok) throw new ExitCode(1);
    });

  program
    .command('sign')
    .description('print a signed curl for a local webhook route (try a Slack cancel without Slack)')
    .argument('<route>', 'slack | hook')
    .argument('<text...>', 'slack: the /watchdog text, e.g. "cancel wd_… too slow"; hook: the execution id')
    .option('--url <base>', 'webhook base URL', 'http://127.0.0.1:8787')
    .option('--user <id>', 'Slack user id to act as', 'U012ABCDEF')
    .option('--response-url <url>', 'Slack response_url to receive the outcome')
    .action(async (route: string, words: string[], o: { url: string; user: string; responseUrl?: string }) => {
      const config = loadConfig(resolveConfigPath(g().config));
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
      const config = loadConfig(resolveConfigPath(opts.config));
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

  program
    .command('simulate')
    .description('run a provider simulator locally (to try `provider cancel` or a config against it)')
    .argument('<platform>', 'catalyzed | kodexa | ionworks | superglue | meibel')
    .option('--port <n>', 'port (0 = any free port)', '0')
    .option('--api-key <key>', 'the key it accepts (default <platform>-sim-key)')
    .option('--run <id>', 'a running execution to start with (repeatable)', collect)
    .action(async (platform: string, o: { port: string; apiKey?: string; run?: string[] }) => {
      const port = parsePort(o.port);
      let sim;
      try {
        sim = await startSimulator(platform, { port, ...(o.apiKey ? { apiKey: o.apiKey } : {}) });
      } catch (err) {
        throw new InputError((err as Error).message);
      }
      for (const id of o.run ?? []) sim.add({ id });
      sim.onCancel = (id) => io.out(`cancel received for ${id}`);
      io.out(`${platform} simulator on ${sim.url} (API key ${sim.apiKey})${o.run?.length ? `; running: ${o.run.join(', ')}` : ''}`);
      io.out(`try: KEY=${sim.apiKey} npx watchdog provider cancel ${platform} ${o.run?.[0] ?? '<id>'} --base-url ${sim.url} --api-key-env KEY`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await sim.close();
    });

  const config = program.command('config').description('work with the watchdog config');
  config
    .command('validate')
    .description('validate a config file: every problem with its exact path')
    .argument('[file]', 'config file (default: as --config)')
    .action((file: string | undefined) => {
      const f = resolveConfigPath(file ?? g().config);
      const c = loadConfig(f);
      print(
        { ok: true, file: f, policies: c.policies.map((p) => p.name), connections: [...c.connections.keys()] },
        () => `${f}: valid (${c.policies.length} policies, ${[...c.connections.keys()].length} connections)`,
      );
    });

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
    else io.err(`watchdog: unexpected error: ${(err as Error).message ?? String(err)}`);
    return 1;
  }
}
