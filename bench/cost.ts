/**
 * What the watchdog's own writes cost, on DynamoDB Local with `ReturnConsumedCapacity:
 * INDEXES` on every write (table and index units summed, as DynamoDB bills them):
 *  - heartbeat_wcu: write units per heartbeat over a realistic mix on the example config
 *    (progress moving, progress repeated, cost updates, bare heartbeats);
 *  - track_wcu: write units per track;
 *  - reschedule_wcu: write units of the sweep's reschedule of an execution whose due time
 *    was left behind by heartbeats (one per heartbeat timeout, see docs/cost.md);
 *  - item_bytes_after_100_heartbeats: the execution item's size by DynamoDB's rules.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetItemCommand, type AttributeValue, type ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { loadConfig } from '../src/config/file.js';
import { policyFor } from '../src/config/load.js';
import { reschedule } from '../src/core/transitions.js';
import { javaAvailable, startDynamoDbLocal } from '../src/local/engines.js';
import { dynamoClient } from '../src/store/client.js';
import { ensureTable } from '../src/store/dynamo.js';
import { executionKey } from '../src/store/table.js';
import { Watchdog, storeFor } from '../src/app/service.js';
import type { Line } from './run.js';

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

/** Sum the write units of every write the client sends (table + indexes). */
export function meterWrites(client: DynamoDBClient): { units: number; writes: number; reset(): void } {
  const meter = {
    units: 0,
    writes: 0,
    reset() {
      meter.units = 0;
      meter.writes = 0;
    },
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const write = WRITES.has(context.commandName ?? '');
      if (write) (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'INDEXES';
      const add = (c: ConsumedCapacity | undefined) => {
        meter.units += c?.CapacityUnits ?? 0;
      };
      try {
        const out = await next(args);
        if (write) {
          meter.writes++;
          const cc = (out.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] }).ConsumedCapacity;
          if (Array.isArray(cc)) cc.forEach(add);
          else add(cc);
        }
        return out;
      } catch (err) {
        // A write that lost its condition is billed too (1 unit per KB of the item).
        if (write) {
          meter.writes++;
          meter.units += 1;
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'meterWrites' },
  );
  return meter;
}

/** An item's size as DynamoDB counts it (attribute names + values). */
export function itemBytes(item: Record<string, AttributeValue>): number {
  const value = (v: AttributeValue): number => {
    if (v.S !== undefined) return Buffer.byteLength(v.S);
    if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\.|e.*$/gi, '').replace(/^0+/, '').length / 2) + 1;
    if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
    if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + 1 + Buffer.byteLength(k) + value(x), 0);
    if (v.L !== undefined) return 3 + v.L.reduce((n, x) => n + 1 + value(x), 0);
    if (v.SS !== undefined) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
    if (v.B !== undefined) return v.B.length;
    return 0;
  };
  return Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + value(v), 0);
}

export async function benchCost(): Promise<Line[]> {
  const names = ['heartbeat_wcu', 'track_wcu', 'reschedule_wcu', 'item_bytes_after_100_heartbeats'];
  if (!javaAvailable()) return names.map((name) => ({ name, value: null, unit: '', target: '', why: 'DynamoDB Local needs Java' }));
  const engine = await startDynamoDbLocal();
  const client = dynamoClient({ endpoint: engine.endpoint });
  const meter = meterWrites(client);
  try {
    const config = loadConfig('examples/watchdog.yaml');
    await ensureTable(client, 'cost');
    let now = Date.UTC(2026, 10, 1);
    const clock = () => now;
    const store = storeFor(config, client, 'cost');
    const wd = new Watchdog(config, store, clock);
    const actor = { id: 'bench', via: 'bench' };
    // The example's three policies: llm-batch (labels), etl (meibel), default.
    const kinds = [
      { connection: 'catalyzed-prod', labels: { team: 'ml', kind: 'batch' } },
      { connection: 'meibel-prod', labels: {} },
      { connection: 'kodexa-acme', labels: {} },
    ];
    const n = 60;
    const refs: string[] = [];
    meter.reset();
    for (let i = 0; i < n; i++) {
      const k = kinds[i % kinds.length]!;
      const e = await wd.track({ connection: k.connection, externalId: `run-${i}`, labels: k.labels }, actor);
      refs.push(e.execution.id);
    }
    const trackWcu = meter.units / n;

    // 40 rounds (20 minutes), one heartbeat per execution every 30 s: a quarter each of progress moving,
    // progress repeated, cost rising and bare liveness.
    meter.reset();
    let beats = 0;
    for (let round = 0; round < 40; round++) {
      now += 30_000;
      for (let i = 0; i < n; i++) {
        const mix = i % 4;
        const body =
          mix === 0
            ? { progress: { done: round + 1, total: 100 } }
            : mix === 1
              ? { progress: { done: 5, total: 100 } }
              : mix === 2
                ? { costUsd: round * 0.25 }
                : {};
        await wd.heartbeat(refs[i]!, body);
        beats++;
      }
    }
    const heartbeatWcu = meter.units / beats;
    const writesPerHeartbeat = meter.writes / beats;

    // The sweep's write for an execution found due by a deadline heartbeats pushed back
    // (sweep.ts: handle → T.reschedule), once per heartbeat timeout per execution.
    meter.reset();
    now += 15 * 60_000;
    for (const id of refs) {
      const r = await store.mutate(id, (c) => reschedule(c, { now, policy: policyFor(config, c), retentionMs: config.settings.retentionMs }));
      if (!r.ok) throw new Error(`reschedule of ${id}: ${r.outcome}`);
    }
    const rescheduleWcu = meter.units / refs.length;

    const item = async (id: string) =>
      (await client.send(new GetItemCommand({ TableName: 'cost', Key: { pk: { S: executionKey(id).pk }, sk: { S: 'X' } }, ConsistentRead: true }))).Item ?? {};
    for (let b = 0; b < 80; b++) {
      now += 30_000;
      await wd.heartbeat(refs[0]!, { progress: { done: 21 + b, total: 1000 }, message: 'step ok' });
    }
    const bytes = itemBytes(await item(refs[0]!));
    return [
      { name: 'heartbeat_wcu', value: round2(heartbeatWcu), unit: 'WCU', target: '<= 1.5', heartbeats: beats, writesPerHeartbeat: round2(writesPerHeartbeat) },
      {
        name: 'reschedule_wcu',
        value: round2(rescheduleWcu),
        unit: 'WCU',
        target: 'info',
        note: 'the sweep rescheduling a run whose stored due time came first (heartbeats sparser than a quarter of the horizon): not per heartbeat',
      },
      { name: 'track_wcu', value: round2(trackWcu), unit: 'WCU', target: 'info', tracked: n },
      { name: 'item_bytes_after_100_heartbeats', value: bytes, unit: 'bytes', target: '<= 1024' },
    ];
  } finally {
    client.destroy();
    await engine.close();
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;
