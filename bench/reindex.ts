/**
 * The embedded store's crash recovery: rebuild every index from the items of a folder with
 * 100,000 tracked executions (what `watchdog start` does after an unclean stop), and the
 * clean reopen that skips it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { Level } from 'level';
import { compileConfig } from '../src/config/load.js';
import { newExecution } from '../src/core/transitions.js';
import { reindex } from '../src/local/reindex.js';
import { openEmbedded } from '../src/local/target.js';
import { dynamoClient } from '../src/store/client.js';
import { ensureTable } from '../src/store/dynamo.js';
import { executionKey, TABLE } from '../src/store/table.js';
import { shardOf } from '../src/core/ids.js';
import type { Line } from './run.js';

const N = 100_000;

export async function benchReindex(): Promise<Line[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-reindex-bench-'));
  try {
    const config = compileConfig(
      { connections: { c: { provider: 'superglue', baseUrl: 'https://x.example', secret: 's' } }, policies: [{ name: 'default', maxRuntime: '1h' }] },
      dir,
    );
    const engine = await openEmbedded(dir);
    const client = dynamoClient({ endpoint: engine.endpoint });
    await ensureTable(client, config.settings.tableName);
    const policy = config.policies[0]!;
    const now = Date.now();
    const items = Array.from({ length: N }, (_, i) =>
      newExecution(
        { connection: 'c', provider: 'superglue', externalId: `run-${i}`, policy: 'default', actor: { id: 'bench', via: 'bench' } },
        { now, policy, retentionMs: config.settings.retentionMs },
      ),
    );
    for (let i = 0; i < N; i += 25 * 8) {
      await Promise.all(
        Array.from({ length: 8 }, (_, j) => items.slice(i + j * 25, i + (j + 1) * 25))
          .filter((b) => b.length > 0)
          .map((batch) =>
            client.send(
              new BatchWriteItemCommand({
                RequestItems: {
                  [config.settings.tableName]: batch.map((e) => ({
                    PutRequest: {
                      Item: marshall(
                        { ...e, ...executionKey(e.id), [TABLE.dueShard]: String(shardOf(e.id, config.settings.shards)) },
                        { removeUndefinedValues: true },
                      ),
                    },
                  })),
                },
              }),
            ),
          ),
      );
    }
    client.destroy();
    await engine.close();
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    const r = await reindex(db);
    await db.close();
    const t0 = performance.now();
    const clean = await openEmbedded(dir);
    const cleanMs = Math.round(performance.now() - t0);
    await clean.close();
    return [
      {
        name: 'embedded_reindex_ms_100k',
        value: r.ms,
        unit: 'ms',
        target: 'informative (runs only after an unclean stop)',
        items: r.items,
        entries: r.entriesAfter,
      },
      { name: 'embedded_clean_open_ms_100k', value: cleanMs, unit: 'ms', target: 'informative', items: N },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
