/**
 * Where the CLI's store lives: a real table (--table/--region/--endpoint) or the embedded
 * store. The embedded store is a dynalite folder; LevelDB allows one process per folder,
 * so a running `npm start` publishes its endpoint in `<dataDir>/endpoint.json` and other
 * CLI invocations talk to it instead of opening the folder themselves.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as z from 'zod';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WatchdogConfig } from '../config/load.js';
import { ownValue } from '../core/own.js';
import { type ReindexReport, markCleanShutdown, recoverIfUnclean } from './reindex.js';
import { WatchdogError } from '../errors.js';
import { dynamoClient } from '../store/client.js';
import { ensureTable } from '../store/dynamo.js';
import { type Engine, startDynalite } from './engines.js';

export interface TargetOptions {
  table?: string;
  region?: string;
  endpoint?: string;
  dataDir: string;
  defaultTable: string;
}

export interface Target {
  client: DynamoDBClient;
  tableName: string;
  /** Human description: "embedded store at …", "table X in eu-west-1". */
  description: string;
  /** A running local instance's simulator URLs (apply with withOverrides). */
  overrides?: Overrides;
  /** A local engine (embedded, a running `watchdog start`, or --endpoint), not AWS: no TTL to expect. */
  local: boolean;
  close(): Promise<void>;
}

/**
 * Where a running local instance's parts live. In demo mode the providers and Slack are
 * local simulators: their URLs travel here so other CLI processes reach the same ones.
 */
export const Overrides = z.object({
  connections: z.record(z.string(), z.string()).default({}),
  notify: z.record(z.string(), z.string()).default({}),
});
export type Overrides = z.infer<typeof Overrides>;
const EndpointFile = z.object({ endpoint: z.string().url(), pid: z.number().int(), overrides: Overrides.optional(), webhook: z.string().url().optional() });

/** The config with connection base URLs and notify URLs replaced (demo simulators). */
export function withOverrides(config: WatchdogConfig, o: Overrides | undefined): WatchdogConfig {
  if (!o) return config;
  const connections = new Map(
    [...config.connections].map(([k, c]) => {
      const url = ownValue(o.connections, k);
      return [k, url ? { ...c, baseUrl: url } : c];
    }),
  );
  const notify = new Map(
    [...config.notify].map(([k, t]) => {
      const url = ownValue(o.notify, k);
      if (!url) return [k, t];
      return [k, t.type === 'webhook' ? { ...t, url } : { ...t, apiUrl: url }];
    }),
  );
  return { ...config, connections, notify };
}
const endpointFile = (dataDir: string) => path.join(dataDir, 'endpoint.json');

function reachable(endpoint: string): Promise<boolean> {
  const u = new URL(endpoint);
  return new Promise((resolve) => {
    const sock = net.connect(Number(u.port), u.hostname);
    sock.setTimeout(500);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Publish a running instance's endpoint for other CLI processes. */
export function publishEndpoint(dataDir: string, endpoint: string, overrides?: Overrides, webhook?: string): () => void {
  const file = endpointFile(dataDir);
  writeFileSync(file, JSON.stringify({ endpoint, pid: process.pid, ...(overrides ? { overrides } : {}), ...(webhook ? { webhook } : {}) }));
  return () => rmSync(file, { force: true });
}

/** The webhook URL of the `watchdog start` running on this store, if one is up. */
export async function runningWebhook(dataDir: string): Promise<string | undefined> {
  const url = readEndpoint(dataDir)?.webhook;
  return url && (await reachable(url)) ? url : undefined;
}

/** What a running `watchdog start` published beside its store, if anything (parsed). */
function readEndpoint(dataDir: string): z.infer<typeof EndpointFile> | undefined {
  const file = endpointFile(dataDir);
  if (!existsSync(file)) return undefined;
  const parsed = EndpointFile.safeParse(JSON.parse(readFileSync(file, 'utf8') || '{}'));
  return parsed.success ? parsed.data : undefined;
}

/** Who holds the embedded store (written when it opens): for "in use by pid N". */
const ownerFile = (dataDir: string) => path.join(dataDir, 'owner.pid');

/**
 * The embedded store, crash-consistent: opening the LevelDB folder ourselves first reports a
 * corrupt or locked folder at once (dynalite would only fail later, inside a request), and
 * after an unclean stop rebuilds every index from the items (see reindex.ts). A clean close
 * leaves a mark, so the next open skips the rebuild.
 */
export async function openEmbedded(dataDir: string, o: { onRecovered?: (r: ReindexReport) => void; onUnmarked?: (err: Error) => void } = {}): Promise<Engine> {
  try {
    if (existsSync(dataDir)) {
      const recovered = await recoverIfUnclean(dataDir);
      if (recovered && recovered.items > 0) o.onRecovered?.(recovered);
    }
    const engine = await startDynalite({ path: dataDir });
    writeFileSync(ownerFile(dataDir), String(process.pid));
    return {
      ...engine,
      close: async () => {
        await engine.close();
        // No mark: the next open rebuilds, which is safe (and says why).
        await markCleanShutdown(dataDir).catch((err: unknown) => o.onUnmarked?.(err as Error));
      },
    };
  } catch (err) {
    const e = err as Error & { cause?: Error };
    const msg = (e.cause?.message ?? e.message).split('\n')[0] ?? '';
    if (/lock/i.test(msg)) {
      const pid = existsSync(ownerFile(dataDir)) ? readFileSync(ownerFile(dataDir), 'utf8').trim() : '';
      throw new WatchdogError(
        `the embedded store at ${dataDir} is in use by another process${/^\d+$/.test(pid) ? ` (pid ${pid})` : ''}: wait for it, or stop it; a running \`watchdog start\` is reached through its endpoint instead`,
      );
    }
    throw new WatchdogError(`cannot open the embedded store at ${dataDir}: ${msg} (move the folder away to start fresh)`);
  }
}

export async function openTarget(opts: TargetOptions): Promise<Target> {
  if (opts.table || opts.region || opts.endpoint) {
    const client = dynamoClient({ ...(opts.region ? { region: opts.region } : {}), ...(opts.endpoint ? { endpoint: opts.endpoint } : {}) });
    const tableName = opts.table ?? opts.defaultTable;
    return {
      client,
      tableName,
      local: opts.endpoint !== undefined,
      description: `table ${tableName}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`,
      close: () => Promise.resolve(client.destroy()),
    };
  }
  const running = readEndpoint(opts.dataDir);
  if (running && (await reachable(running.endpoint))) {
    const client = dynamoClient({ endpoint: running.endpoint });
    return {
      client,
      tableName: opts.defaultTable,
      local: true,
      description: `running watchdog (pid ${running.pid}) at ${running.endpoint}`,
      ...(running.overrides ? { overrides: running.overrides } : {}),
      close: () => Promise.resolve(client.destroy()),
    };
  }
  const engine = await openEmbedded(opts.dataDir);
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, opts.defaultTable);
  return {
    client,
    tableName: opts.defaultTable,
    local: true,
    description: `embedded store at ${opts.dataDir}`,
    close: async () => {
      client.destroy();
      await engine.close();
    },
  };
}
