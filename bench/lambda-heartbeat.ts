/**
 * What one heartbeat costs in Lambda, measured on the deployed artifact: the webhook bundle
 * as `cdk synth` builds it, in one warm Node process (as one Lambda environment serves
 * requests), driven with Function URL events carrying a bearer-key heartbeat, against
 * dynalite and a Secrets Manager stand-in. Per heartbeat: the handler's time (p50, p99),
 * the bytes it writes to stdout (what CloudWatch Logs ingests: with JSON logs and the
 * platform's lines at WARN, nothing else), and the process's peak RSS (the memory to size).
 * Then the month at 1k / 10k / 100k tracked runs with 30 s heartbeats, from the measured
 * figures and the published us-east-1 prices (docs/cost.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileConfig } from '../src/config/load.js';
import { startDynalite } from '../src/local/engines.js';
import { buildRuntime } from '../src/runtime.js';
import { dynamoClient } from '../src/store/client.js';
import { ensureTable } from '../src/store/dynamo.js';
import { startSecretsManager } from '../test/helpers/secrets-manager.js';
import { ENV } from '../src/metrics.js';
import { layOutFunction, runBeside } from './lambda-layout.js';
import type { Line } from './run.js';

const HEARTBEATS = 2_000;
const RUNS = 50;
const TABLE = 'bench-lambda';
/** us-east-1 list prices (ARM): Lambda $0.20 per million requests and $0.0000133334 per GB-second; CloudWatch Logs $0.50 per GB ingested; DynamoDB on-demand $0.625 per million write and $0.125 per million read request units. */
const PRICE = { request: 0.2e-6, gbSecond: 0.0000133334, logGb: 0.5, wru: 0.625e-6, rru: 0.125e-6 };
/** Write units per heartbeat (`heartbeat_wcu`, bench/cost.ts) and one consistent read. */
const WCU_PER_HEARTBEAT = 1.15;
const RRU_PER_HEARTBEAT = 1;

export async function benchLambdaHeartbeat(): Promise<Line[]> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'wd-bench-lambda-'));
  const [engine, sm] = await Promise.all([startDynalite(), startSecretsManager({ 'wd/api': { apiKey: 'bench-key' }, 'wd/sg': { apiKey: 'x' } })]);
  try {
    const raw = {
      settings: { tableName: TABLE },
      connections: { sg: { provider: 'superglue', baseUrl: 'http://127.0.0.1:1', secret: 'wd/sg' } },
      webhook: { api: { secret: 'wd/api' } },
      policies: [{ name: 'default', maxRuntime: '4h', heartbeatTimeout: '10m' }],
    };
    const laid = layOutFunction(work, raw, 'webhook');
    const { fnDir, memoryMb } = laid;

    const client = dynamoClient({ endpoint: engine.endpoint });
    await ensureTable(client, TABLE);
    const rt = buildRuntime(compileConfig(raw), { client, tableName: TABLE, secrets: { get: () => Promise.resolve('{}') } });
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) ids.push((await rt.watchdog.track({ connection: 'sg', externalId: `hb-${i}` }, { id: 'bench', via: 'bench' })).execution.id);
    client.destroy();

    // One warm environment: a cold first request, then HEARTBEATS more; stdout is what Logs ingests.
    const script = `
      const m = await import(${JSON.stringify(`file://${path.join(fnDir, 'index.mjs')}`)});
      const ids = ${JSON.stringify(ids)};
      const ev = (id, i) => ({ rawPath: '/v1/executions/' + encodeURIComponent(id) + '/heartbeat', requestContext: { http: { method: 'POST' } },
        headers: { authorization: 'Bearer bench-key', 'content-type': 'application/json' }, body: JSON.stringify({ progress: { done: i, total: 100000 }, costUsd: i / 1000 }) });
      const write = process.stdout.write.bind(process.stdout); let bytes = 0; let counting = false;
      process.stdout.write = (c, ...a) => { if (counting) bytes += Buffer.byteLength(String(c)); return write(c, ...a); };
      const cold = await m.handler(ev(ids[0], 0), {});
      if (cold.statusCode !== 200) throw new Error('cold heartbeat: ' + cold.statusCode + ' ' + cold.body);
      const ms = []; counting = true;
      for (let i = 1; i <= ${HEARTBEATS}; i++) {
        const t = performance.now(); const r = await m.handler(ev(ids[i % ids.length], i), {});
        ms.push(performance.now() - t); if (r.statusCode !== 200) throw new Error('heartbeat ' + r.statusCode);
      }
      counting = false;
      ms.sort((a, b) => a - b);
      process.stderr.write('RESULT ' + JSON.stringify({ p50: ms[ms.length >> 1], p99: ms[Math.floor(ms.length * 0.99)], bytes: bytes / ${HEARTBEATS}, rssMb: process.resourceUsage().maxRSS / 1024 }) + '\\n');`;
    // Asynchronous: the engine and the Secrets Manager stand-in answer from this process.
    // The webhook refuses to start without its follow-up queue; heartbeats under their limits never use it.
    const { stderr: out } = await runBeside(laid, script, {
      table: TABLE,
      dynamodb: engine.endpoint,
      secretsManager: sm.endpoint,
      env: { [ENV.followUpQueue]: 'http://127.0.0.1:9/000000000000/never-used' },
    });
    const r = JSON.parse(
      out
        .split('\n')
        .find((l) => l.startsWith('RESULT '))!
        .slice(7),
    ) as { p50: number; p99: number; bytes: number; rssMb: number };
    const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
    // Billed duration, rounded up to the millisecond: the measured handler time, whose two
    // store calls (a consistent GetItem, a conditional PutItem) answer locally in well under
    // a millisecond, plus DynamoDB's 5–10 ms for each in AWS (8 ms taken).
    const billedMs = Math.ceil(r.p50 + 2 * 8);
    const perHeartbeat = {
      lambda: PRICE.request + (billedMs / 1000) * (memoryMb / 1024) * PRICE.gbSecond,
      logs: (r.bytes / 1024 ** 3) * PRICE.logGb,
      dynamodb: WCU_PER_HEARTBEAT * PRICE.wru + RRU_PER_HEARTBEAT * PRICE.rru,
    };
    const month = (runs: number) => {
      const beats = (runs / 30) * 730 * 3600;
      return Object.fromEntries(Object.entries(perHeartbeat).map(([k, v]) => [k, Math.round(v * beats)]));
    };
    return [
      {
        name: 'lambda_heartbeat_ms_p50',
        value: round(r.p50),
        unit: 'ms',
        target: 'informational',
        p99: round(r.p99),
        memoryMb,
        billedMs,
        node: process.env.BENCH_NODE ? 'BENCH_NODE' : process.version,
      },
      { name: 'lambda_log_bytes_per_heartbeat', value: Math.round(r.bytes), unit: 'bytes', target: '<= 400 (one line)' },
      { name: 'lambda_webhook_rss_mb', value: round(r.rssMb), unit: 'MB', target: `< ${memoryMb / 2} (half the function's memory)` },
      {
        name: 'heartbeat_cost_usd_month',
        value: null,
        unit: 'USD/month',
        target: 'informational',
        why: 'computed, not measured: see the fields',
        perHeartbeatUsd: Object.fromEntries(Object.entries(perHeartbeat).map(([k, v]) => [k, Number(v.toExponential(3))])),
        at1k: month(1_000),
        at10k: month(10_000),
        at100k: month(100_000),
      },
    ];
  } finally {
    await Promise.all([engine.close(), sm.close()]);
    rmSync(work, { recursive: true, force: true });
  }
}
