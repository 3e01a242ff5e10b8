/**
 * `npm start`: the watchdog on one machine. The embedded store (dynalite persisted in
 * settings.dataDir), a short evaluation interval, and a live view in the terminal.
 *
 * Foundation stage: the loop evaluates due executions and records warnings and cancel
 * decisions (state `cancel_requested`); provider cancels arrive with the adapters.
 */
import type { WatchdogConfig } from '../config/load.js';
import { formatDuration } from '../core/duration.js';
import { evaluate } from '../core/policy.js';
import { recordWarning, requestCancel, reschedule } from '../core/transitions.js';
import { executionRows, table } from '../cli/format.js';
import { dynamoClient } from '../store/client.js';
import { ensureTable } from '../store/dynamo.js';
import { Watchdog, storeFor } from '../watchdog.js';
import { openEmbedded, publishEndpoint } from './target.js';

export interface RunnerOptions {
  config: WatchdogConfig;
  intervalMs: number;
  demo: boolean;
  out: (s: string) => void;
}

const actor = { id: 'local-runner', via: 'sweep' };

export async function runLocal(opts: RunnerOptions): Promise<void> {
  const { config, out } = opts;
  const engine = await openEmbedded(config.settings.dataDir);
  const unpublish = publishEndpoint(config.settings.dataDir, engine.endpoint);
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, config.settings.tableName);
  const store = storeFor(config, client);
  const wd = new Watchdog(config, store);
  out(`watchdog: embedded store at ${config.settings.dataDir} (${engine.endpoint}); evaluating every ${formatDuration(opts.intervalMs)}`);
  out('watchdog: from another terminal try `npx watchdog list` or `npx watchdog track <connection> <id>`; Ctrl-C stops');

  if (opts.demo) {
    const stamp = Date.now().toString(36);
    const demo = [
      { connection: 'catalyzed-prod', externalId: `demo-long-${stamp}`, limits: { maxRuntime: '20s' } },
      { connection: 'superglue-prod', externalId: `demo-silent-${stamp}`, limits: { heartbeatTimeout: '15s' } },
      { connection: 'kodexa-acme', externalId: `demo-ok-${stamp}`, limits: { maxRuntime: '3h' } },
    ];
    for (const d of demo) {
      const { execution } = await wd.track(d, { id: 'demo', via: 'cli' });
      out(`demo: tracking ${execution.id} ${d.connection}/${d.externalId} (${Object.entries(d.limits).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    }
  }

  let stopping = false;
  const tick = async (): Promise<void> => {
    const now = Date.now();
    const due = await store.due(now);
    for (const e of due.items) {
      if (e.state !== 'running' && e.state !== 'warned') continue;
      const policy = wd.policyOf(e);
      const d = evaluate(e, policy, now);
      const c = { now, policy, retentionMs: config.settings.retentionMs };
      if (d.action === 'warn') {
        const r = await store.mutate(e.id, (cur) => recordWarning(cur, d.warnKeys, actor, c), e);
        if (r.ok) out(`${new Date(now).toISOString()}  WARN    ${e.id} ${e.connection}/${e.externalId}: near ${d.warnings.join(', ')}`);
      } else if (d.action === 'cancel') {
        const r = await store.mutate(e.id, (cur) => requestCancel(cur, d.reasons, { id: `policy:${policy.name}`, via: 'sweep' }, c), e);
        if (r.ok) out(`${new Date(now).toISOString()}  CANCEL  ${e.id} ${e.connection}/${e.externalId}: ${d.reasons.join(', ')}${d.dryRun ? ' (dry-run)' : ''} → cancel_requested`);
      } else {
        await store.mutate(e.id, (cur) => reschedule(cur, c), e);
      }
    }
  };

  const printTable = async (): Promise<void> => {
    const page = await store.list({ limit: 20 });
    if (page.items.length) out(`\n${table(executionRows(page.items, (e) => wd.policyOf(e), Date.now()))}\n`);
  };

  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let n = 0;
    const loop = async (): Promise<void> => {
      try {
        await tick();
        if (n++ % 5 === 0) await printTable();
      } catch (err) {
        out(`watchdog: evaluation failed: ${(err as Error).message}`);
      }
      if (!stopping) timer = setTimeout(() => void loop(), opts.intervalMs);
    };
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      if (timer) clearTimeout(timer);
      out('\nwatchdog: stopping');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    void loop();
  });
  unpublish();
  client.destroy();
  await engine.close();
}
