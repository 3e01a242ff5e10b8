import { compileConfig } from '../src/config/load.js';
import { newExecution } from '../src/core/transitions.js';
import { javaAvailable, startDynamoDbLocal } from '../src/local/engines.js';
import { dynamoClient } from '../src/store/client.js';
import { ensureTable } from '../src/store/dynamo.js';
import { storeFor } from '../src/app/service.js';
import type { Line } from './run.js';

/**
 * Items read by a due query ÷ items due, with 100k tracked and 1k due, on DynamoDB Local.
 * The sparse sharded GSI keyed by dueAt should read only what is due.
 */
export async function benchDueRead(): Promise<Line[]> {
  const name = 'due_read_amplification';
  const target = '<= 1.1';
  if (!javaAvailable()) return [{ name, value: null, unit: 'ratio', target, why: 'DynamoDB Local needs Java' }];
  const tracked = Number(process.env.BENCH_TRACKED ?? 100_000);
  const dueCount = Math.round(tracked / 100);
  const engine = await startDynamoDbLocal();
  const client = dynamoClient({ endpoint: engine.endpoint });
  try {
    const config = compileConfig({
      connections: { c: { provider: 'catalyzed', secret: 's' } },
      policies: [{ name: 'default', maxRuntime: '10h', warnAt: 1 }],
    });
    const policy = config.policies[0]!;
    await ensureTable(client, 'bench');
    const store = storeFor(config, client, 'bench');
    const t0 = Date.UTC(2026, 0, 1);
    const actor = { id: 'bench', via: 'bench' };
    const started = Date.now();
    // 1% of executions started long enough ago that their 10h limit is due at `now`.
    const now = t0 + 10 * 3_600_000;
    const make = (i: number) =>
      newExecution(
        { connection: 'c', provider: 'catalyzed', externalId: `e${i}`, policy: 'default', actor, startedAt: i < dueCount ? t0 - i : now + 1 + i },
        { now: i < dueCount ? t0 : now + 1 + i, policy, retentionMs: 86_400_000 },
      );
    const concurrency = 64;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < tracked) {
          const i = next++;
          await store.track(make(i));
        }
      }),
    );
    const loadSecs = (Date.now() - started) / 1000;
    const q0 = Date.now();
    const due = await store.due(now);
    const queryMs = Date.now() - q0;
    const value = due.items.length === 0 ? null : Math.round((due.itemsRead / due.items.length) * 1000) / 1000;
    return [{ name, value, unit: 'ratio', target, tracked, due: due.items.length, itemsRead: due.itemsRead, queryMs, loadSecs }];
  } finally {
    client.destroy();
    await engine.close();
  }
}
