import { randomUUID } from 'node:crypto';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import type { Execution } from '../../src/core/model.js';
import { newExecution } from '../../src/core/transitions.js';
import type { Engine } from '../../src/local/engines.js';
import { dynamoClient } from '../../src/store/client.js';
import { DynamoExecutionStore, ensureTable } from '../../src/store/dynamo.js';
import { storeFor } from '../../src/watchdog.js';
import { ENGINES } from '../helpers/engines.js';
import { HOUR, MIN, T0 } from '../helpers/fixtures.js';

const config = compileConfig({
  settings: { shards: 4 },
  connections: { cat: { provider: 'catalyzed', secret: 's' } },
  policies: [{ name: 'default', maxRuntime: '1h', heartbeatTimeout: '10m' }, { name: 'runtime-only', maxRuntime: '3h' }],
});
const policy = config.policies[0]!;
const actor = { id: 'test', via: 'test' };
const ctx = { now: T0, policy, retentionMs: config.settings.retentionMs };

function exec(externalId: string, over: { labels?: Record<string, string>; maxRuntimeMs?: number; policy?: string } = {}): Execution {
  const p = config.policies.find((x) => x.name === (over.policy ?? 'default'))!;
  return newExecution({
    connection: 'cat', provider: 'catalyzed', externalId, policy: p.name, actor,
    ...(over.labels ? { labels: over.labels } : {}),
    ...(over.maxRuntimeMs ? { limits: { maxRuntimeMs: over.maxRuntimeMs } } : {}),
  }, { ...ctx, policy: p });
}

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

describe.each(ENGINES)('ExecutionStore on $name', (spec) => {
  let engine: Engine;
  let client: DynamoDBClient;
  let store: DynamoExecutionStore;
  let tableName: string;

  const freshTable = async (): Promise<DynamoExecutionStore> => {
    tableName = `t${randomUUID().slice(0, 8)}`;
    await ensureTable(client, tableName);
    return storeFor(config, client, tableName);
  };

  beforeAll(async () => {
    engine = await spec.start();
    client = dynamoClient({ endpoint: engine.endpoint });
    store = await freshTable();
  });
  afterAll(async () => {
    client?.destroy();
    await engine?.close();
  });

  it('track is idempotent on (connection, externalId) and returns the existing record', async () => {
    const first = await store.track(exec('idem-1'));
    expect(first.created).toBe(true);
    const again = await store.track(exec('idem-1'));
    expect(again).toMatchObject({ created: false, execution: { id: first.execution.id, version: 0 } });
  });

  it('track racing itself creates exactly one record', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => store.track(exec('race-1'))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.execution.id)).size).toBe(1);
  });

  it('20 parallel claimCancel calls on one execution: exactly one winner', async () => {
    const { execution } = await store.track(exec('claim-1'));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.claimCancel(execution.id, { owner: `sweep-${i}`, leaseMs: MIN, actor, reasons: ['runtime'] }, T0 + 2 * HOUR)),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of results) if (!r.ok) expect(r.outcome).toBe('claimed');
    const stored = await store.get(execution.id);
    expect(stored).toMatchObject({ state: 'cancelling', attempts: 1, version: 1 });
  });

  it('an expired lease is claimable again; a live one is not', async () => {
    const { execution } = await store.track(exec('lease-1'));
    const now = T0 + 2 * HOUR;
    expect((await store.claimCancel(execution.id, { owner: 'a', leaseMs: MIN, actor }, now)).ok).toBe(true);
    const early = await store.claimCancel(execution.id, { owner: 'b', leaseMs: MIN, actor }, now + 30_000);
    expect(early).toMatchObject({ ok: false, outcome: 'claimed' });
    const late = await store.claimCancel(execution.id, { owner: 'b', leaseMs: MIN, actor }, now + MIN + 1);
    expect(late).toMatchObject({ ok: true, execution: { lease: { owner: 'b' }, attempts: 2 } });
    // The first owner's report now loses its condition: an outcome, not an exception.
    expect(await store.recordOutcome(execution.id, 'a', { kind: 'cancelled' }, actor, now + MIN + 2)).toMatchObject({ ok: false, outcome: 'lease_lost' });
    const done = await store.recordOutcome(execution.id, 'b', { kind: 'cancelled', providerStatus: 'cancelled' }, actor, now + MIN + 3);
    expect(done).toMatchObject({ ok: true, execution: { state: 'cancelled' } });
    expect(done.ok && done.execution.dueAt).toBeUndefined();
    expect(done.ok && done.execution.expiresAt).toBe(Math.floor((now + MIN + 3 + config.settings.retentionMs) / 1000));
  });

  it('heartbeat moves dueAt; terminal executions refuse changes; every transition is audited', async () => {
    const { execution } = await store.track(exec('hb-1'));
    expect(execution.dueAt).toBe(T0 + 8 * MIN); // heartbeat warn time: 80% of 10m
    const hb = await store.heartbeat(execution.id, { progress: { pct: 10 }, costUsd: 1.5 }, actor, T0 + 5 * MIN);
    expect(hb).toMatchObject({ ok: true, execution: { dueAt: T0 + 13 * MIN, costUsd: 1.5, progress: { done: 10, total: 100 } } });
    expect((await store.markFinished(execution.id, actor, T0 + 6 * MIN, 'succeeded')).ok).toBe(true);
    expect(await store.heartbeat(execution.id, {}, actor, T0 + 7 * MIN)).toMatchObject({ ok: false, outcome: 'terminal' });
    expect(await store.requestCancel(execution.id, 'x', actor, T0 + 7 * MIN)).toMatchObject({ ok: false, outcome: 'terminal' });
    const shown = await store.getWithEvents(execution.id);
    expect(shown?.events.map((e) => [e.version, e.what, e.to])).toEqual([
      [0, 'tracked', 'running'],
      [1, 'heartbeat', 'running'],
      [2, 'finished', 'finished'],
    ]);
    expect(await store.heartbeat('wd_nonexistent0', {}, actor, T0)).toEqual({ ok: false, outcome: 'not_found' });
  });

  it('concurrent heartbeats all land (optimistic retries), none lost', async () => {
    const { execution } = await store.track(exec('hb-many'));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.heartbeat(execution.id, { progress: { done: i + 1 } }, actor, T0 + i)));
    expect(results.every((r) => r.ok)).toBe(true);
    const shown = await store.getWithEvents(execution.id);
    expect(shown?.execution.version).toBe(8);
    expect(shown?.events).toHaveLength(9);
  });

  it('the due query returns exactly the due items across shards', async () => {
    const s = await freshTable();
    const now = T0 + 30 * MIN;
    const expected = new Set<string>();
    const all: Execution[] = [];
    for (let i = 0; i < 120; i++) {
      // Runtime limits spread around `now`: warn time is 80% of the limit.
      const e = exec(`due-${i}`, { maxRuntimeMs: (10 + i) * MIN, policy: 'runtime-only' });
      all.push(e);
      if ((e.dueAt ?? Infinity) <= now) expected.add(e.id);
    }
    await inBatches(all, 25, (e) => s.track(e));
    // Terminal executions leave the sparse index even when they were due.
    const finished = all.find((e) => expected.has(e.id))!;
    await s.markFinished(finished.id, actor, T0 + MIN);
    expected.delete(finished.id);
    const due = await s.due(now);
    expect(new Set(due.items.map((e) => e.id))).toEqual(expected);
    expect(due.itemsRead).toBe(expected.size);
    expect(expected.size).toBeGreaterThan(20);
    expect(expected.size).toBeLessThan(100);

    // A bounded batch: at most `limit` items, oldest first, and reading stops early.
    const batch = await s.due(now, { limit: 8 });
    expect(batch.items).toHaveLength(8);
    expect(batch.items.map((e) => e.dueAt)).toEqual([...batch.items.map((e) => e.dueAt)].sort((a, b) => a! - b!));
    expect(batch.itemsRead).toBeLessThanOrEqual(8);
    for (const e of batch.items) expect(expected.has(e.id)).toBe(true);
  });

  it('list pages past 1 MB and filters by state, policy and label', async () => {
    const s = await freshTable();
    const pad = 'x'.repeat(1000);
    const items = Array.from({ length: 1300 }, (_, i) => exec(`big-${i}`, { labels: { team: i % 2 ? 'ml' : 'data', pad } }));
    await inBatches(items, 50, (e) => s.track(e));
    const all = await s.list({ limit: 10_000 });
    expect(all.items).toHaveLength(1300);
    expect(all.cursor).toBeUndefined();
    // Page through with cursors: no duplicates, nothing missing.
    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await s.list({ limit: 400, ...(cursor ? { cursor } : {}) });
      for (const e of page.items) seen.add(e.id);
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(1300);
    expect(pages).toBeGreaterThanOrEqual(4);
    const ml = await s.list({ limit: 10_000, label: { key: 'team', value: 'ml' }, state: 'running' });
    expect(ml.items).toHaveLength(650);
    expect((await s.list({ policy: 'other' })).items).toHaveLength(0);
    await expect(s.list({ cursor: 'garbage!' })).rejects.toThrow(/invalid cursor/);
  });

  it('a corrupt item is reported, not passed on', async () => {
    const s = await freshTable();
    await client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'X#wd_corrupt00000' }, sk: { S: 'X' }, state: { S: 'running' }, trackedAt: { N: '1' } } }));
    await expect(s.get('wd_corrupt00000')).rejects.toThrow(/corrupt execution item/);
  });
});
