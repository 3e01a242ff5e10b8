import { randomUUID } from 'node:crypto';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import type { Execution } from '../../src/core/model.js';
import { newExecution } from '../../src/core/transitions.js';
import type { Engine } from '../../src/local/engines.js';
import { dynamoClient } from '../../src/store/client.js';
import { DynamoExecutionStore, ensureTable } from '../../src/store/dynamo.js';
import { storeFor } from '../../src/app/service.js';
import { ENGINES } from '../helpers/engines.js';
import { transitionsOn } from '../helpers/ops.js';
import { HOUR, MIN, T0 } from '../helpers/fixtures.js';

const config = compileConfig({
  settings: { shards: 4 },
  connections: { cat: { provider: 'catalyzed', secret: 's' } },
  policies: [
    { name: 'default', maxRuntime: '1h', heartbeatTimeout: '10m' },
    { name: 'runtime-only', maxRuntime: '3h' },
    { name: 'costly', maxRuntime: '1h', maxCostUsd: 10 },
  ],
});
const policy = config.policies[0]!;
const actor = { id: 'test', via: 'test' };
const ctx = { now: T0, policy, retentionMs: config.settings.retentionMs };

function exec(externalId: string, over: { labels?: Record<string, string>; maxRuntimeMs?: number; policy?: string } = {}): Execution {
  const p = config.policies.find((x) => x.name === (over.policy ?? 'default'))!;
  return newExecution(
    {
      connection: 'cat',
      provider: 'catalyzed',
      externalId,
      policy: p.name,
      actor,
      ...(over.labels ? { labels: over.labels } : {}),
      ...(over.maxRuntimeMs ? { limits: { maxRuntimeMs: over.maxRuntimeMs } } : {}),
    },
    { ...ctx, policy: p },
  );
}

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

describe.each(ENGINES)('ExecutionStore on $name', (spec) => {
  let engine: Engine;
  let client: DynamoDBClient;
  let store: DynamoExecutionStore;
  let tableName: string;

  const op = () => transitionsOn(store, config);
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
      Array.from({ length: 20 }, (_, i) => op().claimCancel(execution.id, { holder: `sweep-${i}`, leaseMs: MIN, actor, reasons: ['runtime'] }, T0 + 2 * HOUR)),
    );
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    for (const r of results) if (!r.ok) expect(r.outcome).toBe('lease_held');
    const stored = await store.get(execution.id);
    expect(stored).toMatchObject({ state: 'cancelling', attempts: 1, version: 1 });
  });

  it('an expired lease is claimable again; a live one is not', async () => {
    const { execution } = await store.track(exec('lease-1'));
    const now = T0 + 2 * HOUR;
    expect((await op().claimCancel(execution.id, { holder: 'a', leaseMs: MIN, actor }, now)).ok).toBe(true);
    const early = await op().claimCancel(execution.id, { holder: 'b', leaseMs: MIN, actor }, now + 30_000);
    expect(early).toMatchObject({ ok: false, outcome: 'lease_held' });
    const late = await op().claimCancel(execution.id, { holder: 'b', leaseMs: MIN, actor }, now + MIN + 1);
    expect(late).toMatchObject({ ok: true, execution: { lease: { holder: 'b' }, attempts: 2 } });
    // The first owner's report now loses its condition: an outcome, not an exception.
    expect(await op().recordOutcome(execution.id, 'a', { kind: 'cancelled' }, actor, now + MIN + 2)).toMatchObject({ ok: false, outcome: 'lease_lost' });
    const done = await op().recordOutcome(execution.id, 'b', { kind: 'cancelled', providerStatus: 'cancelled' }, actor, now + MIN + 3);
    expect(done).toMatchObject({ ok: true, execution: { state: 'cancelled' } });
    expect(done.ok && done.execution.dueAt).toBeUndefined();
    expect(done.ok && done.execution.expiresAt).toBe(Math.floor((now + MIN + 3 + config.settings.retentionMs) / 1000));
  });

  it('a heartbeat updates the item only: its due time never moves later, it is counted, not audited; terminal executions refuse changes', async () => {
    const { execution } = await store.track(exec('hb-1'));
    expect(execution.dueAt).toBe(T0 + 8 * MIN); // heartbeat warn time: 80% of 10m
    const hb = await op().heartbeat(execution.id, { progress: { pct: 10 }, costUsd: 1.5, message: 'epoch 1' }, T0 + 5 * MIN);
    // The heartbeat deadline moved to T0 + 13m, but the stored due time stays (the sweep
    // reschedules when it gets there): no index entry is rewritten.
    expect(hb).toMatchObject({
      ok: true,
      execution: {
        dueAt: T0 + 8 * MIN,
        lastHeartbeatAt: T0 + 5 * MIN,
        heartbeats: 1,
        costUsd: 1.5,
        progress: { done: 10, total: 100 },
        lastMessage: 'epoch 1',
        version: 1,
      },
    });
    expect(await store.get(execution.id)).toEqual(hb.ok && hb.execution);
    expect((await op().markFinished(execution.id, actor, T0 + 6 * MIN, 'succeeded')).ok).toBe(true);
    expect(await op().heartbeat(execution.id, {}, T0 + 7 * MIN)).toMatchObject({ ok: false, outcome: 'terminal' });
    expect(await op().requestCancel(execution.id, 'x', actor, T0 + 7 * MIN)).toMatchObject({ ok: false, outcome: 'terminal' });
    const shown = await store.getWithEvents(execution.id);
    expect(shown?.events.map((e) => [e.version, e.what, e.to])).toEqual([
      [0, 'tracked', 'running'],
      [2, 'finished', 'finished'],
    ]);
    expect(await op().heartbeat('wd_nonexistent0', {}, T0)).toEqual({ ok: false, outcome: 'not_found' });
  });

  it('a heartbeat that brings a limit closer moves the due time earlier at once (reported cost past the limit: due now)', async () => {
    const s = await freshTable();
    const { execution } = await s.track(exec('hb-cost', { policy: 'costly' }));
    expect(execution.dueAt).toBe(T0 + 48 * MIN); // runtime warn time
    const cheap = await transitionsOn(s, config).heartbeat(execution.id, { costUsd: 2 }, T0 + MIN);
    expect(cheap.ok && cheap.execution.dueAt).toBe(T0 + 48 * MIN);
    const over = await transitionsOn(s, config).heartbeat(execution.id, { costUsd: 11 }, T0 + 2 * MIN);
    expect(over.ok && over.execution.dueAt).toBe(T0 + 2 * MIN);
    expect((await s.due(T0 + 2 * MIN)).items.map((e) => [e.id, e.costUsd])).toEqual([[execution.id, 11]]);
  });

  it('concurrent heartbeats all land (optimistic retries), none lost', async () => {
    const { execution } = await store.track(exec('hb-many'));
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => op().heartbeat(execution.id, { progress: { done: i + 1 } }, T0 + i)));
    expect(results.every((r) => r.ok)).toBe(true);
    const shown = await store.getWithEvents(execution.id);
    expect(shown?.execution).toMatchObject({ version: 8, heartbeats: 8, progressHighWater: 8 });
    expect(shown?.events.map((e) => e.what)).toEqual(['tracked']);
  });

  it('listing by state merges the shards newest first, and its cursor pages without gaps or repeats', async () => {
    const s = await freshTable();
    const p = config.policies[1]!;
    const made = Array.from({ length: 45 }, (_, i) =>
      newExecution(
        { connection: 'cat', provider: 'catalyzed', externalId: `ls-${i}`, policy: p.name, actor, labels: { team: i % 3 === 0 ? 'ml' : 'data' } },
        { ...ctx, policy: p, now: T0 + i * 1000 },
      ),
    );
    await inBatches(made, 15, (e) => s.track(e));
    await transitionsOn(s, config).markFinished(made[44]!.id, actor, T0 + HOUR);
    const newestFirst = made
      .slice(0, 44)
      .reverse()
      .map((e) => e.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await s.list({ state: 'running', limit: 7, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.items.map((e) => e.id));
      cursor = page.cursor;
      pages++;
    } while (cursor && pages < 20);
    expect(seen).toEqual(newestFirst);
    expect(pages).toBe(7);
    // Filters apply in the index; the finished one is listed under its own state only.
    expect((await s.list({ state: 'running', label: { key: 'team', value: 'ml' }, limit: 100 })).items.map((e) => e.id)).toEqual(
      newestFirst.filter((id) => made.find((e) => e.id === id)!.labels.team === 'ml'),
    );
    expect((await s.list({ state: 'finished' })).items.map((e) => e.id)).toEqual([made[44]!.id]);
    // A cursor of one kind of listing is refused by the other.
    const first = await s.list({ state: 'running', limit: 5 });
    await expect(s.list({ cursor: first.cursor! })).rejects.toThrow(/invalid cursor/);
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
    await transitionsOn(s, config).markFinished(finished.id, actor, T0 + MIN);
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
    await client.send(
      new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'X#wd_corrupt00000' }, sk: { S: 'X' }, state: { S: 'running' }, trackedAt: { N: '1' } } }),
    );
    await expect(s.get('wd_corrupt00000')).rejects.toThrow(/corrupt execution item/);
  });
});
