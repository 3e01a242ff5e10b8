/**
 * Heartbeat load on DynamoDB Local: 5,000 tracked executions heartbeating at ~200/s for
 * 60 s through the tracking API (the local server over the one webhook handler, bearer key),
 * sweeps every second alongside, and 50 runaways whose runtime limits fall due during the
 * load. Prints errors, heartbeat latency p50/p99, the write units of everything (heartbeats,
 * the sweep's reschedules and cancels), and the breach → provider cancel lag under load.
 * Sizes: BENCH_LOAD_EXECUTIONS, BENCH_LOAD_RATE, BENCH_LOAD_SECONDS.
 */
import { WatchdogClient } from '../src/client.js';
import { compileConfig } from '../src/config/load.js';
import { serveWebhook } from '../src/http/server.js';
import { Webhook } from '../src/http/webhook.js';
import { javaAvailable, startDynamoDbLocal } from '../src/local/engines.js';
import { buildRuntime } from '../src/runtime.js';
import { startSimulator } from '../src/simulators/server.js';
import { dynamoClient } from '../src/store/client.js';
import { ensureTable } from '../src/store/dynamo.js';
import { meterWrites } from './cost.js';
import type { Line } from './run.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], q: number) => (xs.length === 0 ? null : Math.round(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]! * 10) / 10);

export async function benchHeartbeatLoad(): Promise<Line[]> {
  const names = [
    'heartbeat_load_errors',
    'heartbeat_load_p50_ms',
    'heartbeat_load_p99_ms',
    'heartbeat_load_wcu_per_heartbeat',
    'heartbeat_load_due_lag_p99_ms',
  ];
  if (!javaAvailable()) return names.map((name) => ({ name, value: null, unit: '', target: '', why: 'DynamoDB Local needs Java' }));
  const executions = Number(process.env.BENCH_LOAD_EXECUTIONS ?? 5000);
  const rate = Number(process.env.BENCH_LOAD_RATE ?? 200);
  const seconds = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
  const [engine, sim] = await Promise.all([startDynamoDbLocal(), startSimulator('catalyzed')]);
  const client = dynamoClient({ endpoint: engine.endpoint });
  const meter = meterWrites(client);
  await ensureTable(client, 'load');
  const apiKey = 'load-api-key';
  const secrets = { get: async (n: string) => JSON.stringify(n === 'cat' ? { apiKey: sim.apiKey } : { apiKey }) };
  const config = compileConfig({
    settings: { shards: 8, providerConcurrency: 16 },
    connections: { cat: { provider: 'catalyzed', baseUrl: sim.url, secret: 'cat' } },
    webhook: { api: { secret: 'api' } },
    policies: [
      // Heartbeats every ~25 s against a 5 m timeout (warned at 4 m): each execution comes
      // due once per 4 m by a deadline heartbeats pushed back, and the sweep reschedules it.
      { name: 'fleet', maxRuntime: '4h', heartbeatTimeout: '5m' },
      { name: 'runaway', maxRuntime: '4h', warnAt: 1 },
    ],
    defaultPolicy: 'fleet',
  });
  const rt = buildRuntime(config, { client, tableName: 'load', secrets });
  const served = await serveWebhook(new Webhook({ runtime: rt, secrets }), { port: 0, maxBodyBytes: 65536 });
  const api = new WatchdogClient({ baseUrl: served.url, apiKey });
  const actor = { id: 'bench', via: 'bench' };
  const cancelledAt = new Map<string, number>();
  sim.onCancel = (id) => {
    if (!cancelledAt.has(id)) cancelledAt.set(id, Date.now());
  };
  let stop = false;
  try {
    const ids = Array.from({ length: executions }, (_, i) => `fleet-${i}`);
    const trackStart = Date.now();
    // A fleet in its steady state: start times spread so that the due times (start + 4 m)
    // fall evenly from 35 s to 4 minutes after tracking, not all at once (and none before
    // the load's first heartbeat reaches it): ~N / 4 m reschedules per second in the load.
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < ids.length) {
          const i = next++;
          const id = ids[i]!;
          sim.add({ id });
          const startedAt = Date.now() - 205_000 + Math.round((((i * 7919) % executions) / executions) * 205_000);
          await rt.watchdog.track({ connection: 'cat', externalId: id, startedAt }, actor);
        }
      }),
    );
    const trackSecs = Math.round((Date.now() - trackStart) / 100) / 10;
    // Runaways: a 2 m runtime limit reached 5..(seconds − 5) s into the load.
    const t0 = Date.now();
    const deadlines = new Map<string, number>();
    for (let i = 0; i < 50; i++) {
      const id = `runaway-${i}`;
      const deadline = t0 + 5_000 + Math.round((i * (seconds - 10) * 1000) / 50);
      sim.add({ id });
      await rt.watchdog.track({ connection: 'cat', externalId: id, policy: 'runaway', startedAt: deadline - 120_000, limits: { maxRuntime: '2m' } }, actor);
      deadlines.set(id, deadline);
    }

    meter.reset();
    const sweepDurations: number[] = [];
    let rescheduled = 0;
    const sweeps = (async () => {
      while (!stop) {
        const started = Date.now();
        const sum = await rt.sweeper.run();
        sweepDurations.push(Date.now() - started);
        rescheduled += sum.rescheduled;
        await sleep(Math.max(0, 1000 - (Date.now() - started)));
      }
    })();
    const total = rate * seconds;
    const latencies: number[] = [];
    let errors = 0;
    let sent = 0;
    const start = Date.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (;;) {
          const i = sent++;
          if (i >= total) return;
          const wait = start + (i * 1000) / rate - Date.now();
          if (wait > 0) await sleep(wait);
          const t = performance.now();
          try {
            await api.heartbeat(`cat/${ids[i % ids.length]!}`, i % 3 === 0 ? { progress: { done: i, total: total } } : {});
            latencies.push(performance.now() - t);
          } catch {
            errors++;
          }
        }
      }),
    );
    const elapsed = (Date.now() - start) / 1000;
    const units = meter.units;
    const writes = meter.writes;
    // Let the last runaways' cancels land.
    const until = Date.now() + 10_000;
    while (cancelledAt.size < deadlines.size && Date.now() < until) await sleep(200);
    stop = true;
    await sweeps;
    latencies.sort((a, b) => a - b);
    const lags = [...deadlines].map(([id, d]) => (cancelledAt.get(id) ?? Infinity) - d).sort((a, b) => a - b);
    const missed = lags.filter((l) => l === Infinity).length;
    return [
      {
        name: 'heartbeat_load_errors',
        value: errors,
        unit: 'count',
        target: '= 0',
        heartbeats: latencies.length,
        executions,
        trackSecs,
        ratePerSec: Math.round((latencies.length / elapsed) * 10) / 10,
        seconds: Math.round(elapsed),
      },
      { name: 'heartbeat_load_p50_ms', value: pct(latencies, 0.5), unit: 'ms', target: 'report' },
      { name: 'heartbeat_load_p99_ms', value: pct(latencies, 0.99), unit: 'ms', target: 'report' },
      {
        name: 'heartbeat_load_wcu_per_heartbeat',
        value: Math.round((units / Math.max(1, latencies.length)) * 100) / 100,
        unit: 'WCU',
        target: 'report',
        totalWcu: Math.round(units),
        writes,
        rescheduled,
        sweeps: sweepDurations.length,
        sweepMsMax: Math.max(...sweepDurations),
        note: 'all writes during the load (heartbeats, reschedules, runaway cancels) ÷ heartbeats',
      },
      {
        name: 'heartbeat_load_due_lag_p50_ms',
        value: missed ? null : pct(lags, 0.5),
        unit: 'ms',
        target: 'report (compare due_lag_p50_ms)',
        runaways: deadlines.size,
        cancelled: deadlines.size - missed,
      },
      {
        name: 'heartbeat_load_due_lag_p99_ms',
        value: missed ? null : pct(lags, 0.99),
        unit: 'ms',
        target: 'report (compare due_lag_p99_ms)',
        ...(missed ? { why: `${missed} runaways not cancelled within 10 s of the load's end` } : {}),
      },
    ];
  } finally {
    stop = true;
    await served.close().catch(() => undefined);
    client.destroy();
    await Promise.all([engine.close(), sim.close()]);
  }
}
