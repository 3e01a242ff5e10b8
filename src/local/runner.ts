/**
 * `npm start`: the whole watchdog on one machine, through the same parts as in AWS: the
 * embedded store (dynalite persisted in settings.dataDir), the sweep core on a short
 * interval, and the webhook handler on 127.0.0.1. With the demo on (the default), the
 * providers and Slack are local simulators and a scripted set of executions shows what
 * the watchdog does, as a live table and a feed of actions.
 */
import { sweepLoop } from '../app/loop.js';
import { emptySummary } from '../app/summary.js';
import type { WatchdogConfig } from '../config/load.js';
import { formatDuration } from '../core/duration.js';
import type { Execution } from '../core/model.js';
import { costText, executionRows, progressText, runtimeOf, runtimeText, table } from '../cli/format.js';
import { serveWebhook } from '../http/server.js';
import { slackCurl } from '../http/verify.js';
import { Webhook } from '../http/webhook.js';
import { type Runtime, buildRuntime, secretsFor } from '../runtime.js';
import { recordRunningConfig } from '../store/meta.js';
import { closeHttpPools } from '../providers/http.js';
import { type SecretSource, readSecretField } from '../secrets.js';
import { dynamoClient } from '../store/client.js';
import { ensureTable } from '../store/dynamo.js';
import type { SweepAction, SweepSummary } from '../app/sweep.js';
import { type DemoScript, type DemoWorld, runDemoScript, startDemoWorld } from './demo.js';
import { openEmbedded, publishEndpoint, withOverrides } from './target.js';

export interface RunnerOptions {
  config: WatchdogConfig;
  intervalMs: number;
  demo: boolean;
  port: number;
  out: (s: string) => void;
  /**
   * A terminal: redraw one table in place (state, elapsed/limit as a bar, progress, cost,
   * last event) with the feed below it and the try-it commands under that. Otherwise (piped,
   * CI) a plain log.
   */
  live?: boolean;
  /** Resolves to stop (tests); SIGINT/SIGTERM stop as well. */
  until?: Promise<void>;
}

const clock = () => new Date().toISOString().slice(11, 19);
const ACTION_TEXT: Record<string, string> = {
  finished: 'finished',
  warned: 'WARNED',
  would_cancel: 'would cancel (dry-run)',
  cancelled: 'CANCELLED',
  already_finished: 'already finished when the cancel arrived',
  cancel_pending: 'cancel accepted, waiting for the provider',
  retry: 'provider busy, cancel retried later',
  cancel_failed: 'CANCEL FAILED',
  cancel_unconfirmed: 'cancel unconfirmed',
  held_back: 'held back by the cancel cap',
  approval_asked: 'APPROVAL ASKED (Slack: Cancel now / Keep running)',
  approval_unanswered: 'approval unanswered',
  stopped_after_alert: 'seen stopped after the failed cancel',
  deferred: 'deferred',
  lost_race: 'claimed by someone else',
  error: 'error',
};

/** The live terminal view: one table redrawn in place, the feed below it, a footer under that. */
class LiveView {
  private feedLines: string[] = [];
  private tableText = '';
  private footer: string[] = [];
  private header = '';
  constructor(private readonly write: (s: string) => void) {}
  readonly feed = (s: string): void => {
    this.feedLines.push(...s.split('\n').filter((l) => l.trim() !== ''));
    if (this.feedLines.length > 500) this.feedLines.splice(0, this.feedLines.length - 500);
  };
  setHeader(s: string): void {
    this.header = s;
  }
  setTable(s: string): void {
    this.tableText = s;
  }
  setFooter(lines: string[]): void {
    this.footer = lines;
  }
  render(): void {
    const rows = process.stdout.rows ?? 50;
    const fixed = this.tableText.split('\n').length + this.footer.length + 5;
    const feed = this.feedLines.slice(-Math.max(5, rows - fixed));
    this.write(`\x1b[H\x1b[2J${this.header}\n\n${this.tableText}\n\n${feed.join('\n')}\n${this.footer.join('\n')}`);
  }
}

const bar = (fraction: number, width = 10): string => {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
};

export async function runLocal(opts: RunnerOptions): Promise<void> {
  const view = opts.live ? new LiveView(opts.out) : undefined;
  const out = view ? view.feed : opts.out;
  const engine = await openEmbedded(opts.config.settings.dataDir, {
    onRecovered: (r) =>
      out(
        `watchdog: the store was not closed cleanly last time: rebuilt its indexes from ${r.items} items in ${r.ms} ms (${r.entriesBefore} entries before, ${r.entriesAfter} after)`,
      ),
    onUnmarked: (err) => opts.out(`watchdog: could not mark the store closed (${err.message}): the next start rebuilds its indexes`),
  });
  const client = dynamoClient({ endpoint: engine.endpoint });
  const secrets = secretsFor(opts.config);
  let world: DemoWorld | undefined;
  let script: DemoScript | undefined;
  let unpublish = () => {};
  const cleanups: Array<() => Promise<void> | void> = [];
  // Kept until the store is closed: a second Ctrl-C during shutdown is answered, not fatal.
  let onSignal: (() => void) | undefined;
  try {
    await ensureTable(client, opts.config.settings.tableName);
    world = opts.demo ? await startDemoWorld(opts.config, secrets) : undefined;
    let config = withOverrides(opts.config, world?.overrides);
    // The demo compresses time: accepted-but-pending cancels are checked within seconds.
    // And discovery looks every 10 s (a restarted demo finds its runs again at once).
    if (world)
      config = {
        ...config,
        settings: { ...config.settings, confirmWithinMs: Math.min(config.settings.confirmWithinMs, 10_000) },
        connections: new Map([...config.connections].map(([n, c]) => [n, c.discover ? { ...c, discover: { ...c.discover, every: '10s' } } : c])),
      };
    const rt = buildRuntime(config, { client, secrets, holder: `local-${process.pid}` });
    await recordRunningConfig(client, config.settings.tableName, { sha256: opts.config.sha256, by: `watchdog start (pid ${process.pid})`, at: Date.now() });
    const served = await serveWebhook(new Webhook({ runtime: rt, secrets }), { port: opts.port, maxBodyBytes: config.webhook.maxBodyBytes });
    cleanups.push(() => served.close());
    unpublish = publishEndpoint(config.settings.dataDir, engine.endpoint, world?.overrides, served.url);
    const banner = `watchdog: store ${config.settings.dataDir} · sweep every ${formatDuration(opts.intervalMs)} · webhook ${served.url}${world ? ' · demo: providers and Slack are local simulators' : ''}`;
    out(banner);
    view?.setHeader(`${banner} · Ctrl-C stops`);
    // The try-it commands: a footer that stays on screen in the live view, log lines otherwise.
    const howToLines = async (s: DemoScript): Promise<string[]> => {
      const lines: string[] = [];
      await printHowTo((l) => lines.push(l), config, secrets, served.url, s);
      return lines;
    };
    const howTo = async (s: DemoScript): Promise<void> => {
      const lines = await howToLines(s);
      if (view) view.setFooter(lines);
      else for (const l of lines) opts.out(l);
    };

    if (world) {
      // Executions left live by a previous run resume on the fresh simulators.
      for (const state of ['running', 'warned', 'cancel_requested', 'cancelling'] as const) {
        for (const e of (await rt.store.list({ state, limit: 1000 })).items) world.sims.get(e.connection)?.add({ id: e.externalId, startedAt: e.startedAt });
      }
      for (const [name, s] of world.sims) s.onCancel = (id) => out(`${clock()}  ${name.padEnd(15)} simulator received cancel for ${id}`);
      world.slack.onEvent = (kind, v) => {
        if (kind === 'post') {
          const p = v as { channel: string; text: string; thread_ts?: string };
          out(`${clock()}  slack ${p.channel}${p.thread_ts ? ' (thread)' : ''}: ${p.text.slice(0, 110)}`);
        } else if (kind === 'hook') out(`${clock()}  webhook delivery: ${JSON.stringify(v).slice(0, 110)}`);
        else out(`${clock()}  slack response_url: ${(v as { text?: string }).text ?? ''}`);
      };
      if (world.pager)
        world.pager.onEvent = (action, key) =>
          out(`${clock()}  pagerduty: ${action === 'trigger' ? 'incident OPENED' : action === 'resolve' ? 'incident RESOLVED' : action} ${key}`);
      script = await runDemoScript(rt, world, served.url, out);
      cleanups.push(() => script?.stop());
      await howTo(script);
    } else {
      out('watchdog: track executions with `npx watchdog track <connection> <id>` or POST /v1/executions; Ctrl-C stops');
    }

    let shownOutcome = false;
    const show = async (s: SweepSummary): Promise<void> => {
      for (const d of s.discoveries) {
        if (d.discovered > 0 || d.error)
          out(
            `${clock()}  ${d.connection.padEnd(15)} discovery: ${d.running} running on the platform, ${d.discovered} nobody tracked → now tracked${d.error ? ` (${d.error})` : ''}`,
          );
      }
      for (const a of s.actions) {
        out(feedLine(a));
        lastEvent.set(a.id, `${clock()} ${ACTION_TEXT[a.action] ?? a.action}`);
      }
      if (script && !shownOutcome) {
        const outcome = await demoOutcome(rt, world as DemoWorld, script);
        if (outcome !== undefined) {
          shownOutcome = true;
          // The try-it commands again, last on screen, where they stay: gathered first, so the
          // outcome and they are written together (nothing can come between them).
          const lines = view ? [] : await howToLines(script);
          out(outcome);
          for (const l of lines) opts.out(l);
        }
      }
    };
    let lastShape = '';
    let lastShown = 0;
    const lastEvent = new Map<string, string>();
    const drawLive = async (): Promise<void> => {
      const items = (await rt.store.list({ limit: 200 })).items.sort((a: Execution, b: Execution) => a.trackedAt - b.trackedAt).slice(-15);
      const now = Date.now();
      const rows = [['EXECUTION', 'STATE', 'ELAPSED / LIMIT', '', 'PROGRESS', 'COST', 'LAST EVENT']];
      for (const e of items) {
        const r = runtimeOf(e, rt.watchdog.policyOf(e), now);
        rows.push([
          `${e.connection}/${e.externalId}`,
          e.state,
          r.limitMs === undefined ? '' : bar(r.elapsedMs / r.limitMs),
          runtimeText(r),
          progressText(e),
          costText(e),
          lastEvent.get(e.id) ?? (e.source === 'discovered' ? 'DISCOVERED' : ''),
        ]);
      }
      view?.setTable(table(rows));
      view?.render();
    };
    const printTable = async (): Promise<void> => {
      const live = await rt.store.list({ limit: 30 });
      const items = live.items.sort((a: Execution, b: Execution) => a.trackedAt - b.trackedAt).slice(-12);
      // Print when something changed, or every 30 s as a heartbeat of the view.
      const shape = items.map((e) => `${e.id}:${e.state}:${e.progress?.done ?? ''}:${e.costUsd ?? ''}`).join('|');
      if (items.length === 0 || (shape === lastShape && Date.now() - lastShown < 30_000)) return;
      lastShape = shape;
      lastShown = Date.now();
      out(`\n${table(executionRows(items, (e) => rt.watchdog.policyOf(e), Date.now()))}\n`);
    };

    // The loop the sweeper Lambda runs (src/app/loop.ts), without an end: a pass every intervalMs.
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let wake: (() => void) | undefined;
      let n = 0;
      let stopping = false;
      const stop = (): void => {
        // A second Ctrl-C while stopping must not kill the process mid-close: the store would be left unclean.
        if (stopping) return opts.out('watchdog: still stopping: closing the store cleanly');
        stopping = true;
        if (timer) clearTimeout(timer);
        wake?.();
        opts.out('\nwatchdog: stopping');
        resolve();
      };
      onSignal = stop;
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      void opts.until?.then(stop);
      void sweepLoop({
        sweeper: {
          run: (o) =>
            rt.sweeper.run(o).catch((err: unknown) => {
              out(`watchdog: sweep failed: ${(err as Error).message}`);
              return emptySummary(rt.sweeper.holder, Date.now(), false);
            }),
        },
        tickMs: opts.intervalMs,
        endAt: Infinity,
        stopped: () => stopping,
        sleep: (ms) =>
          new Promise<void>((r) => {
            wake = r;
            timer = setTimeout(r, ms);
          }),
        onPass: async (s) => {
          if (stopping) return;
          try {
            await show(s);
            if (view) await drawLive();
            else if (n++ % 3 === 0) await printTable();
          } catch (err) {
            out(`watchdog: sweep failed: ${(err as Error).message}`);
          }
        },
      });
    });
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    unpublish();
    await closeHttpPools();
    await world?.close();
    client.destroy();
    await engine.close();
    if (onSignal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

function feedLine(a: SweepAction): string {
  return `${clock()}  ${a.connection.padEnd(15)} ${a.externalId.padEnd(22)} ${ACTION_TEXT[a.action] ?? a.action}${a.detail ? ` (${a.detail})` : ''}`;
}

async function printHowTo(out: (s: string) => void, config: WatchdogConfig, secrets: SecretSource, url: string, script: DemoScript): Promise<void> {
  out(`\nTry it from another terminal (a long run, ${script.manual.id}, waits for you):`);
  out(`  npx watchdog list                     # the same store, live`);
  out(`  npx watchdog show ${script.manual.id}`);
  out(`  npx watchdog cancel ${script.manual.id} --reason "saw it in the demo"`);
  if (config.webhook.slack) {
    const secret = await readSecretField(secrets, config.webhook.slack.secret, 'signingSecret');
    const user = config.policies.find((p) => p.name === 'default')?.allow.users[0] ?? 'U012ABCDEF';
    const body = new URLSearchParams({
      command: '/watchdog',
      text: `cancel ${script.manual.id} seen in the demo`,
      user_id: user,
      channel_id: 'CDEMO',
    }).toString();
    out(
      `  # cancel it as ${user} from Slack would: a signed slash command (valid 5 minutes; \`npx watchdog sign slack "cancel ${script.manual.id}"\` makes fresh ones):`,
    );
    out(`  ${slackCurl(`${url}/slack/commands`, secret, body)}`);
  }
  out('Ctrl-C stops; the store persists, a restart resumes.\n');
}

/** Once every scenario reached its expected end, what to say (once); undefined before. */
async function demoOutcome(rt: Runtime, world: DemoWorld, script: DemoScript): Promise<string | undefined> {
  const rows: string[] = [];
  for (const s of script.scenarios) {
    const e = await rt.store.get(s.id as string);
    const calls = world.sims.get(s.connection)?.cancelCalls.get(s.externalId) ?? 0;
    if (!e || !s.expect(e.state, calls)) return undefined;
    rows.push(`  ${s.connection}/${s.externalId}: ${e.state}${calls ? ` (cancel calls: ${calls})` : ''} — ${s.what}`);
  }
  if (script.outage !== undefined) {
    // The outage's incident: opened by the probe, resolved on recovery.
    const key = `watchdog/connection/${script.outage}`;
    const events = world.pager?.events.filter((e) => e.key === key).map((e) => e.action) ?? [];
    if (!events.includes('trigger') || events.at(-1) !== 'resolve') return undefined;
    rows.push(`  ${script.outage}: API outage → PagerDuty incident ${key} opened, resolved on recovery`);
  }
  return `\ndemo: all scenarios reached their expected outcome:\n${rows.join('\n')}\n`;
}
