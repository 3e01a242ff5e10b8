/**
 * The `npm start` demo: the five platforms as local simulators (started with the API keys
 * from the secrets file, so the real auth path runs), a Slack stand-in, and a script of
 * executions that each show one thing the watchdog does, driven through the same public
 * surfaces a real deployment uses: the tracking API (WatchdogClient) and signed Slack
 * requests to the webhook.
 */
import { WatchdogClient } from '../client.js';
import { executionId } from '../core/ids.js';
import type { WatchdogConfig } from '../config/load.js';
import { slackSignedHeaders } from '../http/verify.js';
import type { Runtime } from '../runtime.js';
import { type SecretSource, readSecretField } from '../secrets.js';
import { type OncallStandIn, startPagerDutyStandIn } from '../simulators/oncall.js';
import { type Simulator, startSimulator } from '../simulators/server.js';
import { type SlackStandIn, startSlackStandIn } from '../simulators/slack.js';
import { DIALECTS } from '../simulators/dialects.js';
import type { Overrides } from './target.js';

export interface DemoWorld {
  /** Simulator per connection. */
  sims: Map<string, Simulator>;
  slack: SlackStandIn;
  /** The PagerDuty stand-in, when the config has a pagerduty target. */
  pager?: OncallStandIn;
  overrides: Overrides;
  close(): Promise<void>;
}

export async function startDemoWorld(config: WatchdogConfig, secrets: SecretSource): Promise<DemoWorld> {
  const sims = new Map<string, Simulator>();
  for (const [name, c] of config.connections) {
    if (!Object.hasOwn(DIALECTS, c.provider)) continue;
    const apiKey = await readSecretField(secrets, c.secret, 'apiKey');
    sims.set(name, await startSimulator(c.provider, { apiKey, kodexaCancelMs: 1_500, autoCreate: true }));
  }
  const slackTarget = [...config.notify.values()].find((t) => t.type === 'slack');
  const token = slackTarget?.type === 'slack' ? await readSecretField(secrets, slackTarget.tokenSecret, 'botToken') : 'xoxb-demo';
  const slack = await startSlackStandIn({ token });
  const pagerTarget = [...config.notify.values()].find((t) => t.type === 'pagerduty');
  const pager =
    pagerTarget?.type === 'pagerduty'
      ? await startPagerDutyStandIn({ routingKey: await readSecretField(secrets, pagerTarget.routingKeySecret, 'routingKey') })
      : undefined;
  const urlOf = (name: string, type: string) => (type === 'slack' ? slack.apiUrl : type === 'pagerduty' && pager ? pager.url : `${slack.hookBase}/${name}`);
  const overrides: Overrides = {
    connections: Object.fromEntries([...sims].map(([name, s]) => [name, s.url])),
    notify: Object.fromEntries([...config.notify].map(([name, t]) => [name, urlOf(name, t.type)])),
  };
  return {
    sims,
    slack,
    ...(pager ? { pager } : {}),
    overrides,
    close: async () => {
      await Promise.all([...[...sims.values()].map((s) => s.close()), slack.close(), pager?.close()]);
    },
  };
}

export interface Scenario {
  key: string;
  connection: string;
  externalId: string;
  what: string;
  /** What the run must end as for the demo to count as shown. */
  expect: (state: string, cancelCalls: number) => boolean;
  id?: string;
}

export interface DemoScript {
  scenarios: Scenario[];
  /** The connection whose outage the demo plays (its incident must open and resolve). */
  outage?: string;
  /** A long run left for the reader to cancel by hand. */
  manual: { id: string; connection: string; externalId: string };
  stop(): void;
}

/**
 * Start the scripted executions. `webhookUrl` is the local webhook; `say` prints a feed line.
 */
export async function runDemoScript(rt: Runtime, world: DemoWorld, webhookUrl: string, say: (s: string) => void): Promise<DemoScript> {
  const cfg = rt.config;
  const hooks = cfg.webhook.hooks ? await readSecretField(rt.secrets, cfg.webhook.hooks.secret, 'signingSecret') : undefined;
  const apiKey = cfg.webhook.apiKeys.find((k) => k.scope.connections === 'all');
  const api = apiKey ? await readSecretField(rt.secrets, apiKey.secret, 'apiKey') : undefined;
  const slackSecret = cfg.webhook.slack ? await readSecretField(rt.secrets, cfg.webhook.slack.secret, 'signingSecret') : undefined;
  const tracker = new WatchdogClient({ baseUrl: webhookUrl, ...(hooks ? { signingSecret: hooks } : { apiKey: api }) });
  // Stable names (`kodexa-acme/demo-stall`) on a fresh store; a store that still holds a
  // previous demo's runs gets the next free `-2`, `-3`, … (`watchdog start --reset` starts over).
  const freeName = async (connection: string, base: string): Promise<string> => {
    for (let n = 1; ; n++) {
      const name = n === 1 ? base : `${base}-${n}`;
      if (!(await rt.store.get(executionId(connection, name)))) return name;
    }
  };
  const conn = (provider: string) => [...cfg.connections].find(([, c]) => c.provider === provider)?.[0];
  const sim = (connection: string) => world.sims.get(connection) as Simulator;
  const timers: NodeJS.Timeout[] = [];
  const at = (ms: number, fn: () => Promise<void> | void) =>
    timers.push(setTimeout(() => void Promise.resolve(fn()).catch((err: Error) => say(`demo: step failed: ${err.message}`)), ms));
  const every = (ms: number, fn: () => Promise<void>) => {
    const t = setInterval(() => void fn().catch(() => undefined), ms);
    timers.push(t);
    return t;
  };

  const scenarios: Scenario[] = [];
  const add = async (
    provider: string,
    key: string,
    what: string,
    limits: Record<string, unknown>,
    expect: Scenario['expect'],
    simSetup: Partial<{ total: number; done: number; finishAt: number }> = {},
    policy = 'default',
  ) => {
    const connection = conn(provider);
    if (!connection || !world.sims.has(connection)) return undefined;
    const externalId = await freeName(connection, `demo-${key}`);
    sim(connection).add({ id: externalId, ...simSetup });
    const { execution } = await tracker.track({ connection, externalId, policy, limits: limits, labels: { demo: key } });
    const s: Scenario = { key, connection, externalId, what, expect, id: execution.id };
    scenarios.push(s);
    say(`demo: tracking ${execution.id} ${connection}/${externalId} — ${what}`);
    return s;
  };
  const t0 = Date.now();
  const cancelledBy = (state: string, calls: number) => state === 'cancelled' && calls === 1;

  const ok = await add('catalyzed', 'ok', 'reports progress and finishes normally', { maxRuntime: '60s' }, (s, c) => s === 'finished' && c === 0);
  await add('kodexa', 'stall', 'progress stops at 10%: stalled', { stallAfter: '15s' }, cancelledBy, { total: 100, done: 10 });
  await add('ionworks', 'long', 'runs past its 20s runtime limit', { maxRuntime: '20s' }, cancelledBy);
  const spend = await add('superglue', 'spend', 'reports cost climbing past $5', { maxCostUsd: 5 }, cancelledBy);
  const busy = await add('meibel', 'busy', 'runs too long, and Meibel answers the first cancel with 429', { maxRuntime: '25s' }, cancelledBy);
  await add('catalyzed', 'done', 'finishes by itself just before its cancel arrives', { maxRuntime: '20s' }, (s) => s === 'finished', {
    finishAt: t0 + 19_000,
  });
  const ext = await add(
    'superglue',
    'extend',
    'warned, then a person presses "Extend 30m" in Slack',
    { maxRuntime: '24s' },
    (s, c) => (s === 'running' || s === 'warned') && c === 0,
  );
  // Approval mode: at the breach a request goes to Slack; a person presses "Keep running 1h".
  const training = cfg.policies.find((p) => p.name === 'training' && p.onBreach === 'approve');
  const approve = training
    ? await add(
        'catalyzed',
        'approve',
        'a training run under approval mode: breaches at 18s, Slack asks, a person presses "Keep running 1h"',
        { maxRuntime: '18s' },
        (s, c) => (s === 'running' || s === 'warned') && c === 0,
        {},
        'training',
      )
    : undefined;
  if (cfg.policies.some((p) => p.name === 'etl' && p.mode === 'dry-run')) {
    await add(
      'meibel',
      'dry',
      'under the dry-run "etl" policy: would be cancelled, is not',
      { maxRuntime: '15s' },
      (s, c) => (s === 'running' || s === 'warned') && c === 0,
      {},
      'etl',
    );
  }

  // A run started by hand on the platform, never tracked: discovery finds it through the
  // platform's list, and its policy (from the platform's own start time) warns, then cancels.
  const discovering = [...cfg.connections].find(([name, c]) => c.discover !== undefined && world.sims.has(name));
  if (discovering) {
    const [connection, c] = discovering;
    const policy = cfg.policies.find((p) => p.name === (c.discover?.policy ?? cfg.defaultPolicy));
    if (policy?.maxRuntimeMs !== undefined && policy.mode === 'enforce') {
      const externalId = await freeName(connection, 'demo-by-hand');
      // Started long ago: 20 s short of its policy's runtime limit.
      sim(connection).add({ id: externalId, startedAt: t0 - policy.maxRuntimeMs + 20_000 });
      scenarios.push({
        key: 'by-hand',
        connection,
        externalId,
        what: `started by hand, never tracked: discovered, warned, cancelled under "${policy.name}"`,
        expect: cancelledBy,
        id: executionId(connection, externalId),
      });
      say(`demo: ${connection}/${externalId} started on the platform by hand (nobody tracks it); discovery will find it`);
    }
  }

  // The tracking system at work: heartbeats with progress and cost through the API.
  let progress = 0;
  if (ok)
    every(3_000, async () => {
      progress = Math.min(100, progress + 25);
      if (progress < 100) await tracker.heartbeat(ok.id as string, { progress: { pct: progress } });
    });
  if (ok)
    at(12_000, async () => {
      await tracker.finish(ok.id as string, 'succeeded');
      sim(ok.connection).executions.get(ok.externalId)!.state = 'succeeded';
      say(`demo: ${ok.connection}/${ok.externalId} reported finished through the tracking API`);
    });
  let cost = 0;
  if (spend)
    every(2_000, async () => {
      cost += 0.5;
      await tracker.heartbeat(spend.id as string, { costUsd: cost });
    });
  if (busy)
    at(22_000, () => {
      // The status read (Meibel's cancel answer is ambiguous), then the cancel; the connection's probes pass.
      sim(busy.connection).faults = { rateLimitNext: 2, retryAfterSec: 4, rateLimitId: busy.externalId };
    });
  // People answer from Slack: a warning's "Extend 30m", an approval request's "Keep running 1h" (signed interactions).
  const answer = (s: Scenario, postText: string, actionId: string, label: string, policy: string): void => {
    if (!slackSecret) return;
    const press = async (): Promise<boolean> => {
      const post = world.slack.posts.find((p) => JSON.stringify(p.blocks ?? []).includes(s.id as string) && p.text.includes(postText));
      const button = (post?.blocks as Array<{ type: string; elements?: Array<{ value: string; action_id: string }> }> | undefined)
        ?.find((b) => b.type === 'actions')
        ?.elements?.find((e) => e.action_id === actionId);
      if (!button) return false;
      const allowed = cfg.policies.find((p) => p.name === policy)?.allow.users[0] ?? 'U012ABCDEF';
      const responseUrl = `${world.slack.responseBase}/demo/${s.id}`;
      const body = new URLSearchParams({
        payload: JSON.stringify({
          type: 'block_actions',
          user: { id: allowed },
          channel: { id: 'CDEMO' },
          response_url: responseUrl,
          trigger_id: `demo-${s.id}`,
          actions: [{ action_id: button.action_id, value: button.value }],
        }),
      }).toString();
      const res = await fetch(`${webhookUrl}/slack/interactions`, { method: 'POST', body, headers: slackSignedHeaders(slackSecret, body) });
      say(`demo: ${allowed} pressed "${label}" in Slack → acknowledged (HTTP ${res.status}, empty, as Slack expects)`);
      // The answer arrives on response_url: the message, replaced in place.
      for (let i = 0; i < 30; i++) {
        const replaced = world.slack.responses.find((r) => r.path.endsWith(s.id as string));
        if (replaced) {
          const b = replaced.body as { replace_original?: boolean; text?: string };
          say(`demo: the message in Slack is ${b.replace_original ? 'replaced in place' : 'answered'}: "${b.text ?? ''}"`);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return true;
    };
    const poll = setInterval(() => void press().then((done) => done && clearInterval(poll)), 1_000);
    timers.push(poll);
  };
  if (ext) answer(ext, 'warning', 'watchdog_extend', 'Extend 30m', 'default');
  if (approve) answer(approve, 'Approval needed', 'watchdog_keep', 'Keep running 1h', 'training');

  // A platform's API fails for a while: the connection probe opens an incident (PagerDuty)
  // and resolves it when the API answers again.
  const outage = world.pager && cfg.settings.probeEveryMs > 0 ? conn('kodexa') : undefined;
  if (outage) {
    at(22_000, () => {
      sim(outage).faults = { errorRate: 1 };
      say(`demo: ${outage}'s API starts answering 503 — the next probe finds it unhealthy`);
    });
    at(22_000 + Math.max(12_000, 2 * cfg.settings.probeEveryMs), () => {
      sim(outage).faults = {};
      say(`demo: ${outage}'s API is back`);
    });
  }

  const manualConn = conn('ionworks') ?? [...cfg.connections.keys()][0];
  if (manualConn === undefined) throw new Error('the demo needs at least one connection');
  const manualExt = await freeName(manualConn, 'demo-manual');
  world.sims.get(manualConn)?.add({ id: manualExt });
  const { execution: manual } = await tracker.track({
    connection: manualConn,
    externalId: manualExt,
    limits: { maxRuntime: '10m' },
    labels: { demo: 'manual' },
  });
  return {
    scenarios,
    ...(outage ? { outage } : {}),
    manual: { id: manual.id, connection: manualConn, externalId: manualExt },
    stop: () => timers.forEach((t) => clearTimeout(t)),
  };
}
