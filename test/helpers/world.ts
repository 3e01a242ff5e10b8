/**
 * A whole watchdog world for sweep tests: a real DynamoDB engine, the five provider
 * simulators, a Slack stand-in, a config pointing at them, and a clock the test moves.
 */
import { randomUUID } from 'node:crypto';
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { type WatchdogConfig, compileConfig } from '../../src/config/load.js';
import type { Engine } from '../../src/local/engines.js';
import type { HttpOptions } from '../../src/providers/http.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import type { SecretSource } from '../../src/secrets.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { type SlackStandIn, startSlackStandIn } from '../../src/simulators/slack.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';

export const PLATFORMS = ['catalyzed', 'kodexa', 'ionworks', 'superglue', 'meibel'] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface Servers {
  sims: Record<Platform, Simulator>;
  slack: SlackStandIn;
  close(): Promise<void>;
}

export async function startServers(opts: { kodexaCancelMs?: number } = {}): Promise<Servers> {
  const sims = Object.fromEntries(
    await Promise.all(PLATFORMS.map(async (p) => [p, await startSimulator(p, { kodexaCancelMs: opts.kodexaCancelMs ?? 50 })])),
  ) as Record<Platform, Simulator>;
  const slack = await startSlackStandIn({ token: 'xoxb-test-token' });
  return {
    sims,
    slack,
    close: async () => {
      await Promise.all([...Object.values(sims).map((s) => s.close()), slack.close()]);
    },
  };
}

export function memorySecrets(servers: Servers): SecretSource {
  const values: Record<string, string> = {
    'slack-bot': JSON.stringify({ botToken: 'xoxb-test-token' }),
    'key-wrong': JSON.stringify({ apiKey: 'not-the-key' }),
  };
  for (const p of PLATFORMS) values[`key-${p}`] = JSON.stringify({ apiKey: servers.sims[p].apiKey });
  return { get: async (name) => values[name] ?? Promise.reject(new Error(`no secret ${name}`)) };
}

/** Config: one connection per platform (`<platform>-c`), policies `strict` (1h runtime, slack) and `bulk` (no notifications). */
export function worldConfig(
  servers: Servers,
  over: { settings?: Record<string, unknown>; policies?: unknown[]; connections?: Record<string, unknown>; providers?: Record<string, unknown> } = {},
): WatchdogConfig {
  return compileConfig({
    settings: { shards: 4, maxCancelsPerSweep: 100_000, leaseDuration: '2m', confirmWithin: '5m', ...over.settings },
    connections: {
      ...Object.fromEntries(PLATFORMS.map((p) => [`${p}-c`, { provider: p, baseUrl: servers.sims[p].url, secret: `key-${p}` }])),
      ...over.connections,
    },
    ...(over.providers ? { providers: over.providers } : {}),
    notify: { chat: { type: 'slack', channel: '#oncall', tokenSecret: 'slack-bot', apiUrl: servers.slack.apiUrl } },
    policies: over.policies ?? [
      { name: 'strict', maxRuntime: '1h', stallAfter: '20m', notify: ['chat'] },
      { name: 'bulk', maxRuntime: '1h' },
      { name: 'preview', maxRuntime: '1h', mode: 'dry-run', notify: ['chat'] },
    ],
    defaultPolicy: (over.policies?.[0] as { name?: string } | undefined)?.name ?? 'strict',
  });
}

export class Clock {
  constructor(public t: number) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export async function freshRuntime(
  engine: Engine,
  client: DynamoDBClient | undefined,
  config: WatchdogConfig,
  servers: Servers,
  clock: Clock,
  http: HttpOptions = {},
): Promise<{ rt: Runtime; client: DynamoDBClient; tableName: string }> {
  const c = client ?? dynamoClient({ endpoint: engine.endpoint });
  const tableName = `s${randomUUID().slice(0, 8)}`;
  await ensureTable(c, tableName);
  const rt = buildRuntime(config, { client: c, tableName, secrets: memorySecrets(servers), now: clock.now, holder: 'sweep-a', http });
  return { rt, client: c, tableName };
}

/** Another sweeper on the same table (a concurrent Lambda invocation). */
export function peer(rt: Runtime, servers: Servers, client: DynamoDBClient, tableName: string, clock: Clock, holder: string, http: HttpOptions = {}): Runtime {
  return buildRuntime(rt.config, { client, tableName, secrets: memorySecrets(servers), now: clock.now, holder, http });
}

/** An item the store cannot read (its limits are not a map), due now: what the sweep quarantines. */
export function putUnreadable(
  client: DynamoDBClient,
  tableName: string,
  id: string,
  o: { policy?: string; connection?: string; externalId?: string } = {},
): Promise<unknown> {
  return client.send(
    new PutItemCommand({
      TableName: tableName,
      Item: {
        pk: { S: `X#${id}` },
        sk: { S: 'X' },
        state: { S: 'running' },
        dueShard: { S: '0' },
        dueAt: { N: '0' },
        connection: { S: o.connection ?? 'catalyzed-c' },
        externalId: { S: o.externalId ?? `${id}-x` },
        ...(o.policy ? { policy: { S: o.policy } } : {}),
        limits: { S: 'not a map' },
      },
    }),
  );
}
