/**
 * The embedded store after `kill -9`: a real SIGKILL of a child process in the middle of a
 * cancel storm, many times over, each at a random moment; then reopen. The indexes agree
 * with the items, and every runaway ends cancelled within two sweeps of the restart, with no
 * duplicate provider cancel. Also: the rebuild itself, and the safety net that does not
 * trust the due index.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AttributeValue, QueryCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import type { Execution } from '../../src/core/model.js';
import { startDynamoDbLocal } from '../../src/local/engines.js';
import { reindex } from '../../src/local/reindex.js';
import { openEmbedded } from '../../src/local/target.js';
import { buildRuntime } from '../../src/runtime.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { TABLE } from '../../src/store/table.js';

const HOUR = 3_600_000;
const MIN = 60_000;
let sims: Simulator[];
beforeAll(async () => {
  sims = await Promise.all([startSimulator('superglue'), startSimulator('catalyzed')]);
  for (const s of sims) s.faults = { latencyMs: 40 };
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

const rawConfig = () => ({
  settings: { shards: 4, leaseDuration: '2m', maxCancelsPerSweep: 1000, probeEvery: '0', repairEvery: '0' },
  connections: { sg: { provider: 'superglue', baseUrl: sims[0]!.url, secret: 'sg' }, cat: { provider: 'catalyzed', baseUrl: sims[1]!.url, secret: 'cat' } },
  policies: [{ name: 'default', maxRuntime: '1h' }],
});
const secrets = () => ({ sg: JSON.stringify({ apiKey: sims[0]!.apiKey }), cat: JSON.stringify({ apiKey: sims[1]!.apiKey }) });

/** The embedded store in `dir`, its table created. */
async function openStore(dir: string, tableName: string) {
  const engine = await openEmbedded(dir);
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, tableName);
  return { engine, client };
}

/** Seeded randomness: the same kill points on every run of the suite. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Every live item is in the due index under its current dueAt, and the due index holds nothing else. */
async function indexesAgree(client: ReturnType<typeof dynamoClient>, tableName: string, shards: number): Promise<{ missing: string[]; stale: string[] }> {
  const items = new Map<string, number>();
  let start: Record<string, AttributeValue> | undefined;
  do {
    const res = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    for (const it of res.Items ?? []) if (it[TABLE.sk]?.S === 'X' && it[TABLE.dueAt]?.N) items.set(it[TABLE.pk]!.S!, Number(it[TABLE.dueAt]!.N));
    start = res.LastEvaluatedKey;
  } while (start);
  const indexed = new Map<string, number>();
  for (let shard = 0; shard < shards; shard++) {
    let from: Record<string, AttributeValue> | undefined;
    do {
      const res = await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: TABLE.dueIndex,
          KeyConditionExpression: '#s = :s',
          ExpressionAttributeNames: { '#s': TABLE.dueShard },
          ExpressionAttributeValues: { ':s': { S: String(shard) } },
          ExclusiveStartKey: from,
        }),
      );
      for (const it of res.Items ?? []) indexed.set(it[TABLE.pk]!.S!, Number(it[TABLE.dueAt]!.N));
      from = res.LastEvaluatedKey;
    } while (from);
  }
  return {
    missing: [...items].filter(([pk, due]) => indexed.get(pk) !== due).map(([pk]) => pk),
    stale: [...indexed].filter(([pk, due]) => items.get(pk) !== due).map(([pk]) => pk),
  };
}

describe('crash consistency of the embedded store', () => {
  it('SIGKILL at random points of a cancel storm, 8 times: indexes agree after reopening; every runaway cancelled within two sweeps, no duplicate cancel', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-crash-'));
    const config = compileConfig(rawConfig(), dir);
    const { engine, client } = await openStore(dir, config.settings.tableName);
    const rt = buildRuntime(config, { client, secrets: { get: async (n) => secrets()[n as 'sg'] ?? '' } });
    const ids: Array<{ sim: Simulator; externalId: string }> = [];
    for (let i = 0; i < 60; i++) {
      const sim = sims[i % 2]!;
      const externalId = `crash-${i}`;
      sim.add({ id: externalId, startedAt: Date.now() - 2 * HOUR });
      await rt.watchdog.track({ connection: i % 2 === 0 ? 'sg' : 'cat', externalId, startedAt: Date.now() - 2 * HOUR }, { id: 't', via: 't' });
      ids.push({ sim, externalId });
    }
    client.destroy();
    await engine.close();

    const random = prng(20261127);
    let offsetMs = 0;
    for (let run = 0; run < 8; run++) {
      offsetMs += 5 * MIN; // the previous run's leases have expired
      const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/helpers/crash-child.ts')], {
        env: { ...process.env, WATCHDOG_CRASH_ENV: JSON.stringify({ dir, offsetMs, config: rawConfig(), secrets: secrets() }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
      });
      await new Promise((r) => setTimeout(r, 20 + Math.floor(random() * 400)));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }

    const reopened = await openEmbedded(dir);
    const c2 = dynamoClient({ endpoint: reopened.endpoint });
    try {
      expect(await indexesAgree(c2, config.settings.tableName, config.settings.shards)).toEqual({ missing: [], stale: [] });
      let now = Date.now() + offsetMs;
      const rt2 = buildRuntime(config, { client: c2, secrets: { get: async (n) => secrets()[n as 'sg'] ?? '' }, now: () => now });
      for (let sweep = 0; sweep < 2; sweep++) {
        now += 11 * MIN;
        await rt2.sweeper.run();
      }
      const states = await Promise.all(
        ids.map(
          async ({ externalId }, i) =>
            (await rt2.store.get((await rt2.watchdog.show(`${i % 2 === 0 ? 'sg' : 'cat'}/${externalId}`)).execution.id)) as Execution,
        ),
      );
      expect(states.map((e) => e.state).filter((s) => s !== 'cancelled')).toEqual([]);
      for (const { sim, externalId } of ids) expect(sim.cancelCalls.get(externalId), externalId).toBe(1);
    } finally {
      c2.destroy();
      await reopened.close();
    }
  }, 180_000);

  it('the rebuild: an index entry deleted and a stale one added by hand are put right from the items', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-reindex-'));
    const config = compileConfig(rawConfig(), dir);
    const { engine, client } = await openStore(dir, config.settings.tableName);
    const rt = buildRuntime(config, { client, secrets: { get: async () => '' } });
    const a = (await rt.watchdog.track({ connection: 'sg', externalId: 'a', startedAt: Date.now() - 2 * HOUR }, { id: 't', via: 't' })).execution;
    await rt.watchdog.track({ connection: 'sg', externalId: 'b' }, { id: 't', via: 't' });
    client.destroy();
    await engine.close();
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    const dueKeys: string[] = [];
    for await (const k of db.keys({ gte: `index-global~${config.settings.tableName}~due~`, lt: `index-global~${config.settings.tableName}~due~\uffff` }))
      dueKeys.push(k);
    expect(dueKeys).toHaveLength(2);
    const victim = dueKeys[0]!;
    const value = await db.get(victim);
    await db.del(victim);
    await db.put(`${victim.slice(0, victim.lastIndexOf('~') + 1)}zz-stale`, value);
    const report = await reindex(db);
    await db.close();
    expect(report).toMatchObject({ tables: 1, items: 2, entriesBefore: 4, entriesAfter: 4 });
    const again = await openEmbedded(dir);
    const c = dynamoClient({ endpoint: again.endpoint });
    try {
      expect(await indexesAgree(c, config.settings.tableName, config.settings.shards)).toEqual({ missing: [], stale: [] });
      expect((await buildRuntime(config, { client: c, secrets: { get: async () => '' } }).store.due(Date.now())).items.map((e) => e.id)).toEqual([a.id]);
    } finally {
      c.destroy();
      await again.close();
    }
  });
});

describe('the safety net (DynamoDB Local): a runaway whose due entry is gone is still found', () => {
  it('found through the state index, re-indexed, cancelled, counted in indexRepairs; an indexed one beyond the batch is not a repair', async () => {
    const engine = await startDynamoDbLocal();
    const client = dynamoClient({ endpoint: engine.endpoint });
    try {
      const config = compileConfig({ ...rawConfig(), settings: { ...rawConfig().settings, repairEvery: '15m' } });
      await ensureTable(client, 'safety');
      let now = Date.now();
      const rt = buildRuntime(config, { client, tableName: 'safety', secrets: { get: async (n) => secrets()[n as 'sg'] ?? '' }, now: () => now });
      sims[0]!.add({ id: 'lost-1', startedAt: now - 2 * HOUR });
      sims[0]!.add({ id: 'batch-1', startedAt: now - 2 * HOUR });
      const lost = (await rt.watchdog.track({ connection: 'sg', externalId: 'lost-1', startedAt: now - 2 * HOUR }, { id: 't', via: 't' })).execution;
      const later = (await rt.watchdog.track({ connection: 'sg', externalId: 'batch-1', startedAt: now - 2 * HOUR }, { id: 't', via: 't' })).execution;
      // Remove lost-1 from the due index by hand (its dueShard gone, dueAt kept): the due query cannot see it.
      await client.send(
        new UpdateItemCommand({ TableName: 'safety', Key: { pk: { S: `X#${lost.id}` }, sk: { S: 'X' } }, UpdateExpression: 'REMOVE dueShard' }),
      );
      now += 2 * MIN;
      // A batch of 0 leaves batch-1 in the due index but unread: the safety net must not count it.
      const s = await rt.sweeper.run({ limit: 0 });
      expect(s.indexRepairs).toBe(1);
      expect(s.cancelled).toBe(1);
      expect(sims[0]!.cancelCalls.get('lost-1')).toBe(1);
      expect((await rt.store.get(lost.id))!.state).toBe('cancelled');
      expect((await rt.store.get(later.id))!.state).toBe('running');
      // Within repairEvery the safety net does not run again.
      expect((await rt.sweeper.run({ limit: 0 })).indexRepairs).toBe(0);
    } finally {
      client.destroy();
      await engine.close();
    }
  }, 60_000);
});
