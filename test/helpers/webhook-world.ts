/**
 * A webhook world for HTTP tests: dynalite, a superglue simulator, the Slack stand-in, every
 * inbound route configured with known secrets, the handler in process and on real HTTP.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { compileConfig } from '../../src/config/load.js';
import { type Served, serveWebhook } from '../../src/http/server.js';
import type { HttpRequest } from '../../src/http/types.js';
import { slackSignature } from '../../src/http/verify.js';
import { Webhook } from '../../src/http/webhook.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import type { SecretSource } from '../../src/secrets.js';
import { signedHeaders } from '../../src/security/signing.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { type SlackStandIn, startSlackStandIn } from '../../src/simulators/slack.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';

export const SLACK_SECRET = 'slack-signing-secret';
export const HOOK_SECRET = 'hook-signing-secret';
export const API_KEY = 'api-key-123';
export const TEAMS_TOKEN = randomBytes(32).toString('base64');
export const discordKeys = generateKeyPairSync('ed25519');
export const DISCORD_PUBLIC = (discordKeys.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12).toString('hex');

export interface WebhookWorld {
  engine: Engine;
  client: DynamoDBClient;
  sim: Simulator;
  slack: SlackStandIn;
  rt: Runtime;
  webhook: Webhook;
  /** The same handler on real HTTP (what `watchdog serve` runs). */
  served: Served;
  /** A fresh execution tracked on the simulator (connection `sg`); returns its id. */
  tracked(externalId?: string, extra?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;

export async function startWebhookWorld(
  o: {
    extraSecrets?: Record<string, string>;
    config?: (simUrl: string, slackHookBase: string, slackApiUrl: string) => Record<string, unknown>;
    /** The platform the connection `sg` runs on (default superglue; kodexa cancels asynchronously). */
    platform?: 'superglue' | 'kodexa';
    /** The runtime's clock (the store's and the sweep's time); signatures keep the real one. */
    now?: () => number;
  } = {},
): Promise<WebhookWorld> {
  const platform = o.platform ?? 'superglue';
  const [engine, sim, slack] = await Promise.all([startDynalite(), startSimulator(platform, { kodexaCancelMs: 300 }), startSlackStandIn({ token: 'xoxb-t' })]);
  const client = dynamoClient({ endpoint: engine.endpoint });
  const tableName = `whk${++counter}`;
  await ensureTable(client, tableName);
  const values = new Map<string, string>(
    Object.entries({
      sg: JSON.stringify({ apiKey: sim.apiKey }),
      slack: JSON.stringify({ signingSecret: SLACK_SECRET, botToken: 'xoxb-t' }),
      hooks: JSON.stringify({ signingSecret: HOOK_SECRET }),
      api: JSON.stringify({ apiKey: API_KEY }),
      teams: JSON.stringify({ securityToken: TEAMS_TOKEN }),
      discord: JSON.stringify({ publicKey: DISCORD_PUBLIC }),
      ...o.extraSecrets,
    }),
  );
  const secrets: SecretSource = { get: async (name) => values.get(name) ?? Promise.reject(new Error('no such secret')) };
  const config = compileConfig(
    o.config?.(sim.url, slack.hookBase, slack.apiUrl) ?? {
      settings: { confirmWithin: '5s' },
      connections: { sg: { provider: platform, baseUrl: sim.url, secret: 'sg' } },
      notify: { oncall: { type: 'slack', channel: '#oncall', tokenSecret: 'slack', apiUrl: slack.apiUrl } },
      webhook: {
        slack: { secret: 'slack' },
        hooks: { secret: 'hooks' },
        api: { secret: 'api' },
        teams: { secret: 'teams' },
        discord: { secret: 'discord', apiUrl: `${slack.hookBase}/discord` },
        ackBudget: '500ms',
        maxBodyBytes: 8192,
      },
      policies: [{ name: 'default', maxRuntime: '4h', maxExtension: '2h', notify: ['oncall'], allow: { users: ['UALLOWED'], channels: ['CALLOWED'] } }],
    },
  );
  const rt = buildRuntime(config, { client, tableName, secrets, ...(o.now ? { now: o.now } : {}) });
  const webhook = new Webhook({ runtime: rt, secrets });
  const served = await serveWebhook(webhook, { port: 0, maxBodyBytes: config.webhook.maxBodyBytes });
  let n = 0;
  return {
    engine,
    client,
    sim,
    slack,
    rt,
    webhook,
    served,
    tracked: async (externalId = `run-${tableName}-${++n}`, extra = {}) => {
      sim.add({ id: externalId });
      const connection = [...config.connections.keys()][0] as string;
      const { execution } = await rt.watchdog.track({ connection, externalId, ...extra }, { id: 'test', via: 'test' });
      return execution.id;
    },
    close: async () => {
      await served.close();
      client.destroy();
      await Promise.all([engine.close(), sim.close(), slack.close()]);
    },
  };
}

/** The fields of a `/watchdog` slash command from Slack (user UALLOWED in channel CX unless told). */
export const cmd = (text: string, user = 'UALLOWED', extra: Record<string, string> = {}) => ({
  command: '/watchdog',
  text,
  user_id: user,
  channel_id: 'CX',
  ...extra,
});

export function slackRequest(fields: Record<string, string>, o: { ts?: number; secret?: string; path?: string } = {}): HttpRequest {
  const body = new URLSearchParams(fields).toString();
  const ts = String(o.ts ?? Math.floor(Date.now() / 1000));
  return {
    method: 'POST',
    path: o.path ?? '/slack/commands',
    query: new URLSearchParams(),
    body,
    headers: {
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(o.secret ?? SLACK_SECRET, ts, body),
      'content-type': 'application/x-www-form-urlencoded',
    },
  };
}

/** A v2-signed request; `signAs` signs a different method/path than the one sent (replay across routes). */
export function v2Request(
  method: string,
  path: string,
  body: string,
  o: { secret?: string; now?: number; signAs?: { method: string; path: string; body?: string } } = {},
): HttpRequest {
  const signed = o.signAs ?? { method, path };
  return {
    method,
    path,
    query: new URLSearchParams(),
    body,
    headers: {
      'content-type': 'application/json',
      ...signedHeaders(o.secret ?? HOOK_SECRET, { method: signed.method, target: signed.path, body: o.signAs?.body ?? body }, o.now),
    },
  };
}

export const bearer = (method: string, path: string, body: string, key = API_KEY): HttpRequest => ({
  method,
  path,
  query: new URLSearchParams(),
  body,
  headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
});
