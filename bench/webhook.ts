/**
 * Webhook ack latency: a signed Slack `/watchdog cancel` against the local
 * server (warm), through the real store (dynalite) and a superglue simulator; then the
 * same with a provider that never answers (the ack budget must bound it).
 */
import { compileConfig } from '../src/config/load.js';
import { serveWebhook } from '../src/http/server.js';
import { slackSignedHeaders } from '../src/http/verify.js';
import { Webhook } from '../src/http/webhook.js';
import { startDynalite } from '../src/local/engines.js';
import { buildRuntime } from '../src/runtime.js';
import { startSimulator } from '../src/simulators/server.js';
import { dynamoClient } from '../src/store/client.js';
import { ensureTable } from '../src/store/dynamo.js';
import type { Line } from './run.js';

export async function benchWebhook(): Promise<Line[]> {
  const [engine, sim] = await Promise.all([startDynalite(), startSimulator('superglue')]);
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, 'bench-webhook');
  const secrets = { get: async (n: string) => (n === 'sg' ? JSON.stringify({ apiKey: sim.apiKey }) : JSON.stringify({ signingSecret: 'bench-secret' })) };
  const config = compileConfig({
    connections: { sg: { provider: 'superglue', baseUrl: sim.url, secret: 'sg' } },
    webhook: { slack: { secret: 'slack' }, ackBudget: '2s' },
    policies: [{ name: 'default', maxRuntime: '4h', allow: { users: ['U1'] } }],
  });
  const rt = buildRuntime(config, { client, tableName: 'bench-webhook', secrets });
  const served = await serveWebhook(new Webhook({ runtime: rt, secrets }), { port: 0, maxBodyBytes: 65536 });
  const cancel = async (externalId: string): Promise<number> => {
    sim.add({ id: externalId });
    await rt.watchdog.track({ connection: 'sg', externalId }, { id: 'bench', via: 'bench' });
    const body = new URLSearchParams({ command: '/watchdog', text: `cancel sg/${externalId}`, user_id: 'U1', channel_id: 'C1' }).toString();
    const headers = slackSignedHeaders('bench-secret', body);
    const t0 = performance.now();
    const res = await fetch(`${served.url}/slack/commands`, { method: 'POST', body, headers });
    await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return performance.now() - t0;
  };
  try {
    for (let i = 0; i < 20; i++) await cancel(`warm-${i}`);
    const times: number[] = [];
    for (let i = 0; i < 300; i++) times.push(await cancel(`ack-${i}`));
    times.sort((a, b) => a - b);
    const p = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10;
    sim.faults = { hang: true };
    const hung = await cancel('hung');
    sim.faults = {};
    return [
      { name: 'webhook_ack_p50_ms', value: p(0.5), unit: 'ms', target: 'report', samples: times.length },
      { name: 'webhook_ack_p99_ms', value: p(0.99), unit: 'ms', target: '<= 50', samples: times.length },
      { name: 'webhook_ack_hung_provider_ms', value: Math.round(hung), unit: 'ms', target: '< 3000', ackBudgetMs: config.webhook.ackBudgetMs },
    ];
  } finally {
    await served.close().catch(() => undefined);
    client.destroy();
    await Promise.all([engine.close(), sim.close()]);
  }
}
