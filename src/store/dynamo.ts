/**
 * DynamoDB implementation of ExecutionStore: single-item conditional writes only
 * (no transactions: dynalite lacks them, and one item per decision is the better design).
 *
 * Audit events use an outbox: each transition writes its event *inside* the execution
 * item (`pendingEvent`) atomically with the state change; the next transition first
 * copies that event to its own item (idempotent, keyed by version) and then overwrites
 * it. A crash between the two loses nothing: the event is in one place or the other.
 */
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type QueryCommandInput,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  type QueryCommandOutput,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import { shardOf } from '../core/ids.js';
import { AuditEvent, Execution, LIVE_STATES } from '../core/model.js';
import type { Transition } from '../core/transitions.js';
import { InputError, StoreError } from '../errors.js';
import { INDEXES, TABLE, TABLE_KEYS, eventSortKey, executionKey, stateShardKey } from './table.js';
import type { DueResult, ExecutionStore, ListFilter, Page, QuarantinedItem, WriteOutcome } from './types.js';

/** The state of an item the store could not parse (not an ExecutionState: it is outside the state machine). */
export const QUARANTINED = 'quarantined';

function unmarshallSafe(item: Record<string, AttributeValue>): Record<string, unknown> {
  try {
    return unmarshall(item);
  } catch {
    return {};
  }
}

function describeCorrupt(item: Record<string, AttributeValue>, raw: Record<string, unknown>, error: string): QuarantinedItem {
  const str = (k: string) => (typeof raw[k] === 'string' ? { [k]: raw[k].slice(0, 200) } : {});
  const pk = item[TABLE.pk]?.S ?? '?';
  return { id: pk.startsWith('X#') ? pk.slice(2) : pk, error: error.slice(0, 500), ...str('connection'), ...str('externalId'), ...str('policy') };
}

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Due-index shards: more shards, more parallel due queries, spread writes. */
  shards: number;
  retentionMs: number;
  /** Optimistic-concurrency retries for read-modify-write transitions. Default 8. */
  maxRetries?: number;
}

const KeyAttr = z.union([z.object({ S: z.string() }).strict(), z.object({ N: z.string() }).strict()]);
const Key = z.record(z.string(), KeyAttr);
/**
 * A listing's position: one key for a scan; for a listing by state (sharded), where each
 * shard stands: `null` not started, a key to continue after, or "done".
 */
const Cursor = z.union([z.object({ scan: Key }).strict(), z.object({ shards: z.array(z.union([z.null(), z.literal('done'), Key])).max(64) }).strict()]);
type Key = Record<string, AttributeValue>;
type Cursor = { scan: Key } | { shards: Array<Key | null | 'done'> };

function encodeCursor(cursor: Cursor | undefined): string | undefined {
  return cursor ? Buffer.from(JSON.stringify(cursor)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string): Cursor {
  try {
    return Cursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new InputError('invalid cursor: pass the cursor exactly as a previous page returned it');
  }
}

/** The key of an index entry (index keys + table keys): where a query continues after it. */
function indexKeyOf(item: Key, index: string): Key {
  const def = INDEXES.find((i) => i.name === index);
  const out: Key = {};
  for (const k of [TABLE.pk, TABLE.sk, def?.partitionKey.name, def?.sortKey.name]) if (k && item[k]) out[k] = item[k];
  return out;
}

const pkId = (item: Key): string | undefined => {
  const pk = item[TABLE.pk]?.S;
  return pk?.startsWith('X#') ? pk.slice(2) : undefined;
};

/** BatchGetItem: at most 100 keys per request; unprocessed keys are retried with backoff. */
const BATCH_GET = 100;
const BATCH_RETRIES = 8;
const BATCH_PARALLEL = 8;

/** Audit events carried inside the execution item before they are flushed to their own items. */
const CARRIED_EVENTS = 6;

export class DynamoExecutionStore implements ExecutionStore {
  private readonly maxRetries: number;

  constructor(private readonly opts: DynamoStoreOptions) {
    this.maxRetries = opts.maxRetries ?? 8;
  }

  private toItem(e: Execution): Record<string, AttributeValue> {
    const shard = shardOf(e.id, this.opts.shards);
    const item: Record<string, unknown> = { ...e, ...executionKey(e.id), [TABLE.stateShard]: stateShardKey(e.state, shard) };
    if (e.dueAt !== undefined) item[TABLE.dueShard] = String(shard);
    return marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: false });
  }

  private static parseExecution(item: Record<string, AttributeValue>): Execution {
    const r = DynamoExecutionStore.tryParse(item);
    if ('execution' in r) return r.execution;
    if (item[TABLE.state]?.S === QUARANTINED) {
      throw new InputError(
        `execution ${r.corrupt.id} is quarantined (its stored item cannot be read: ${item.quarantineError?.S ?? r.corrupt.error}); see watchdog list --state quarantined`,
      );
    }
    throw new StoreError(`corrupt execution item ${r.corrupt.id}: ${r.corrupt.error}`);
  }

  /** Parse an execution item; an unparsable one is described, never thrown. */
  private static tryParse(item: Record<string, AttributeValue>): { execution: Execution } | { corrupt: QuarantinedItem } {
    let raw: Record<string, unknown> = {};
    try {
      raw = unmarshall(item);
      const parsed = Execution.safeParse(raw);
      if (parsed.success) return { execution: parsed.data };
      const issue = parsed.error.issues[0];
      return { corrupt: describeCorrupt(item, raw, `${issue?.path.join('.') || '(item)'}: ${issue?.message ?? 'invalid'}`) };
    } catch (err) {
      return { corrupt: describeCorrupt(item, raw, (err as Error).message) };
    }
  }

  async track(e: Execution): Promise<{ created: boolean; execution: Execution }> {
    try {
      await this.opts.client.send(
        new PutItemCommand({
          TableName: this.opts.tableName,
          Item: this.toItem(e),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE.pk },
        }),
      );
      return { created: true, execution: e };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
    const existing = await this.get(e.id);
    if (!existing) throw new StoreError(`execution ${e.id} vanished while tracking`);
    if (existing.connection !== e.connection || existing.externalId !== e.externalId) {
      throw new StoreError(`id collision on ${e.id}: ${existing.connection}/${existing.externalId} vs ${e.connection}/${e.externalId}`);
    }
    return { created: false, execution: existing };
  }

  async get(id: string): Promise<Execution | undefined> {
    const res = await this.opts.client.send(
      new GetItemCommand({
        TableName: this.opts.tableName,
        Key: marshall(executionKey(id)),
        ConsistentRead: true,
      }),
    );
    return res.Item ? DynamoExecutionStore.parseExecution(res.Item) : undefined;
  }

  async getWithEvents(id: string): Promise<{ execution: Execution; events: AuditEvent[] } | undefined> {
    let execution: Execution | undefined;
    const events = new Map<number, AuditEvent>();
    for await (const item of this.queryAll({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TABLE.pk },
      ExpressionAttributeValues: { ':pk': { S: `X#${id}` } },
      ConsistentRead: true,
    })) {
      if (item[TABLE.sk]?.S === 'X') execution = DynamoExecutionStore.parseExecution(item);
      else {
        const ev = AuditEvent.safeParse(unmarshall(item));
        if (ev.success) events.set(ev.data.version, ev.data);
      }
    }
    if (!execution) return undefined;
    // The latest events still ride in the item until a later write flushes them.
    for (const ev of [...(execution.outboxEvents ?? []), ...(execution.pendingEvent ? [execution.pendingEvent] : [])]) {
      if (!events.has(ev.version)) events.set(ev.version, ev);
    }
    return { execution, events: [...events.values()].sort((a, b) => a.version - b.version) };
  }

  /**
   * Raw items by id (consistent reads unless told otherwise; `attributes` limits what comes
   * back, not what it costs); unprocessed keys are retried with backoff.
   */
  private async getItems(ids: readonly string[], o: { consistent?: boolean; attributes?: readonly string[] } = {}): Promise<Map<string, Key>> {
    const projection = o.attributes
      ? {
          ProjectionExpression: [TABLE.pk, ...o.attributes].map((_, i) => `#a${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries([TABLE.pk, ...o.attributes].map((a, i) => [`#a${i}`, a])),
        }
      : {};
    const found = new Map<string, Key>();
    const chunks: string[][] = [];
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += BATCH_GET) chunks.push(unique.slice(i, i + BATCH_GET));
    let next = 0;
    // A few batches in flight: a due batch of thousands is read in a few round trips.
    await Promise.all(
      Array.from({ length: Math.min(BATCH_PARALLEL, chunks.length) }, async () => {
        while (next < chunks.length) {
          let keys: Key[] | undefined = chunks[next++]!.map((id) => marshall(executionKey(id)));
          for (let attempt = 0; keys && keys.length > 0; attempt++) {
            if (attempt > BATCH_RETRIES) throw new StoreError(`DynamoDB left ${keys.length} keys unprocessed after ${BATCH_RETRIES} retries`);
            if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
            const res: BatchGetItemCommandOutput = await this.opts.client.send(
              new BatchGetItemCommand({
                RequestItems: { [this.opts.tableName]: { Keys: keys, ConsistentRead: o.consistent ?? true, ...projection } },
              }),
            );
            for (const item of res.Responses?.[this.opts.tableName] ?? []) {
              const id = pkId(item);
              if (id !== undefined) found.set(id, item);
            }
            keys = res.UnprocessedKeys?.[this.opts.tableName]?.Keys;
          }
        }
      }),
    );
    return found;
  }

  async known(ids: readonly string[]): Promise<Map<string, 'tracker' | 'discovered'>> {
    // Eventually consistent (half the read units): a run tracked a moment ago is caught by track's own condition.
    const found = await this.getItems(ids, { consistent: false, attributes: ['source'] });
    return new Map([...found].map(([id, item]) => [id, item.source?.S === 'discovered' ? 'discovered' : 'tracker']));
  }

  /**
   * Full items for keys an index gave (consistent reads, in the order asked). An item gone
   * meanwhile is left out; an unparsable one is described in `corrupt`.
   */
  private async fetch(ids: readonly string[]): Promise<{ items: Execution[]; corrupt: QuarantinedItem[] }> {
    const found = await this.getItems(ids);
    const items: Execution[] = [];
    const corrupt: QuarantinedItem[] = [];
    for (const id of ids) {
      const item = found.get(id);
      if (!item) continue;
      found.delete(id);
      if (item[TABLE.state]?.S === QUARANTINED) continue;
      const r = DynamoExecutionStore.tryParse(item);
      if ('execution' in r) items.push(r.execution);
      else corrupt.push(r.corrupt);
    }
    return { items, corrupt };
  }

  async list(filter: ListFilter = {}): Promise<Page<Execution>> {
    const limit = Math.max(1, Math.min(filter.limit ?? 100, 10_000));
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const conds: string[] = [];
    if (filter.policy !== undefined) {
      names['#policy'] = 'policy';
      values[':policy'] = { S: filter.policy };
      conds.push('#policy = :policy');
    }
    if (filter.connection !== undefined) {
      names['#connection'] = 'connection';
      values[':connection'] = { S: filter.connection };
      conds.push('#connection = :connection');
    }
    if (filter.label !== undefined) {
      names['#labels'] = 'labels';
      names['#lk'] = filter.label.key;
      values[':lv'] = { S: filter.label.value };
      conds.push('#labels.#lk = :lv');
    }
    const filterExpr = conds.length > 0 ? { FilterExpression: conds.join(' AND ') } : {};
    const cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);

    if (filter.state === undefined) {
      // Every execution, in no particular order: a scan of the (small) state index, then the items.
      if (cursor && !('scan' in cursor)) throw new InputError('invalid cursor: it belongs to a listing by state');
      const { keys, next: start } = await keysUpTo(
        limit,
        cursor?.scan,
        (n, from) =>
          this.opts.client.send(
            new ScanCommand({
              TableName: this.opts.tableName,
              IndexName: TABLE.stateIndex,
              Limit: n,
              ExclusiveStartKey: from,
              ...filterExpr,
              ...(conds.length > 0 ? { ExpressionAttributeNames: names, ExpressionAttributeValues: values } : {}),
            }),
          ),
        (i) => i[TABLE.stateShard]?.S?.startsWith(`${QUARANTINED}#`) !== true,
      );
      const { items } = await this.fetch(keys.map(pkId).filter((id): id is string => id !== undefined));
      const next = encodeCursor(start ? { scan: start } : undefined);
      return next === undefined ? { items } : { items, cursor: next };
    }

    // By state, newest first: every shard is read in order and the pages merged.
    if (cursor && !('shards' in cursor)) throw new InputError('invalid cursor: it belongs to a listing of every state');
    const state = filter.state;
    const positions: Array<Key | null | 'done'> = cursor?.shards ?? Array.from({ length: this.opts.shards }, () => null);
    if (positions.length !== this.opts.shards) throw new InputError("invalid cursor: the table's shard count changed since");
    const heads = await Promise.all(
      positions.map(async (pos, shard) => {
        if (pos === 'done') return { keys: [] as Key[], exhausted: true };
        const { keys, next } = await keysUpTo(limit, pos ?? undefined, (n, from) =>
          this.opts.client.send(
            new QueryCommand({
              TableName: this.opts.tableName,
              IndexName: TABLE.stateIndex,
              Limit: n,
              ExclusiveStartKey: from,
              KeyConditionExpression: '#ss = :ss',
              ScanIndexForward: false,
              ...filterExpr,
              ExpressionAttributeNames: { ...names, '#ss': TABLE.stateShard },
              ExpressionAttributeValues: { ...values, ':ss': { S: stateShardKey(state, shard) } },
            }),
          ),
        );
        return { keys, exhausted: next === undefined };
      }),
    );
    const merged = heads
      .flatMap((h, shard) => h.keys.map((key, i) => ({ key, shard, i, at: Number(key[TABLE.trackedAt]?.N ?? 0) })))
      .sort((a, b) => b.at - a.at || (a.key[TABLE.pk]?.S ?? '').localeCompare(b.key[TABLE.pk]?.S ?? ''))
      .slice(0, limit);
    const taken = heads.map(() => 0);
    for (const m of merged) taken[m.shard] = Math.max(taken[m.shard] ?? 0, m.i + 1);
    const nextPositions = positions.map((pos, shard): Key | null | 'done' => {
      const h = heads[shard]!;
      const n = taken[shard] ?? 0;
      if (pos === 'done' || (h.exhausted && n === h.keys.length)) return 'done';
      return n > 0 ? indexKeyOf(h.keys[n - 1]!, TABLE.stateIndex) : pos;
    });
    const { items } = await this.fetch(merged.map((m) => pkId(m.key)).filter((id): id is string => id !== undefined));
    // The index is eventually consistent: an item that has moved on since is not listed under its old state.
    const current = items.filter((e) => e.state === state);
    const next = nextPositions.every((p) => p === 'done') ? undefined : encodeCursor({ shards: nextPositions });
    return next === undefined ? { items: current } : { items: current, cursor: next };
  }

  async due(now: number, opts: { limit?: number } = {}): Promise<DueResult> {
    const limit = opts.limit ?? Infinity;
    // Each shard is read oldest first, so the oldest share of every shard is roughly the oldest overall.
    const shardLimit = Math.ceil(limit / this.opts.shards);
    const perShard = await Promise.all(
      Array.from({ length: this.opts.shards }, async (_, shard) => {
        const keys: Array<{ id: string; dueAt: number }> = [];
        let itemsRead = 0;
        let start: Key | undefined;
        do {
          const res: QueryCommandOutput = await this.opts.client.send(
            new QueryCommand({
              TableName: this.opts.tableName,
              IndexName: TABLE.dueIndex,
              KeyConditionExpression: '#shard = :shard AND #due <= :now',
              ExpressionAttributeNames: { '#shard': TABLE.dueShard, '#due': TABLE.dueAt },
              ExpressionAttributeValues: { ':shard': { S: String(shard) }, ':now': { N: String(now) } },
              ExclusiveStartKey: start,
              ...(Number.isFinite(shardLimit) ? { Limit: Math.max(1, shardLimit - keys.length) } : {}),
            }),
          );
          itemsRead += res.ScannedCount ?? 0;
          for (const item of res.Items ?? []) {
            const id = pkId(item);
            if (id !== undefined) keys.push({ id, dueAt: Number(item[TABLE.dueAt]?.N ?? 0) });
          }
          start = res.LastEvaluatedKey;
        } while (start && keys.length < shardLimit);
        return { keys, itemsRead };
      }),
    );
    const keys = perShard
      .flatMap((s) => s.keys)
      .sort((a, b) => a.dueAt - b.dueAt)
      .slice(0, limit);
    // The index holds keys only (a heartbeat never rewrites it): the items come from the table.
    const { items, corrupt } = await this.fetch(keys.map((k) => k.id));
    return { items, corrupt, itemsRead: perShard.reduce((n, s) => n + s.itemsRead, 0) };
  }

  async quarantine(id: string, error: string, now: number): Promise<boolean> {
    try {
      await this.opts.client.send(
        new UpdateItemCommand({
          TableName: this.opts.tableName,
          Key: marshall(executionKey(id)),
          // trackedAt keeps it in the byState index (where `quarantined()` finds it) even when the item lacks one.
          UpdateExpression:
            'SET #state = :q, #ss = :ss, quarantinedAt = :now, quarantineError = :err, #tracked = if_not_exists(#tracked, :now) REMOVE #shard, #due',
          ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#state) OR #state <> :q)',
          ExpressionAttributeNames: {
            '#state': TABLE.state,
            '#ss': TABLE.stateShard,
            '#shard': TABLE.dueShard,
            '#due': TABLE.dueAt,
            '#pk': TABLE.pk,
            '#tracked': TABLE.trackedAt,
          },
          ExpressionAttributeValues: {
            ':q': { S: QUARANTINED },
            ':ss': { S: stateShardKey(QUARANTINED, shardOf(id, this.opts.shards)) },
            ':now': { N: String(now) },
            ':err': { S: error.slice(0, 1000) },
          },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  /** Every item a query matches, across DynamoDB's pages. */
  private async *queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): AsyncGenerator<Key> {
    let start: Key | undefined;
    do {
      const res = await this.opts.client.send(new QueryCommand({ TableName: this.opts.tableName, ...input, ExclusiveStartKey: start }));
      yield* res.Items ?? [];
      start = res.LastEvaluatedKey;
    } while (start);
  }

  /** Every entry of the state index under `state`, across its shards. */
  private async *byState(
    state: string,
    extra: Pick<QueryCommandInput, 'FilterExpression' | 'ProjectionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> = {},
  ): AsyncGenerator<Key> {
    for (let shard = 0; shard < this.opts.shards; shard++) {
      yield* this.queryAll({
        IndexName: TABLE.stateIndex,
        KeyConditionExpression: '#ss = :ss',
        ...extra,
        ExpressionAttributeNames: { ...extra.ExpressionAttributeNames, '#ss': TABLE.stateShard },
        ExpressionAttributeValues: { ...extra.ExpressionAttributeValues, ':ss': { S: stateShardKey(state, shard) } },
      });
    }
  }

  async overdue(before: number): Promise<string[]> {
    const ids: string[] = [];
    for (const state of LIVE_STATES) {
      for await (const item of this.byState(state, { ProjectionExpression: '#pk', ExpressionAttributeNames: { '#pk': TABLE.pk } })) {
        const id = pkId(item);
        if (id !== undefined) ids.push(id);
      }
    }
    // The state index does not carry dueAt (a reschedule would then rewrite it too): read it
    // from the items, eventually consistent (half a read unit each, once per repairEvery).
    const items = await this.getItems(ids, { consistent: false, attributes: [TABLE.dueAt] });
    return ids.filter((id) => {
      const due = Number(items.get(id)?.[TABLE.dueAt]?.N);
      return Number.isFinite(due) && due <= before;
    });
  }

  async inDueIndex(e: Execution): Promise<boolean> {
    if (e.dueAt === undefined) return false;
    const res = await this.opts.client.send(
      new QueryCommand({
        TableName: this.opts.tableName,
        IndexName: TABLE.dueIndex,
        KeyConditionExpression: '#shard = :shard AND #due = :due',
        FilterExpression: '#pk = :pk',
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { '#shard': TABLE.dueShard, '#due': TABLE.dueAt, '#pk': TABLE.pk },
        ExpressionAttributeValues: { ':shard': { S: String(shardOf(e.id, this.opts.shards)) }, ':due': { N: String(e.dueAt) }, ':pk': { S: `X#${e.id}` } },
      }),
    );
    return (res.Items ?? []).length > 0;
  }

  async quarantined(): Promise<QuarantinedItem[]> {
    const ids: string[] = [];
    for await (const entry of this.byState(QUARANTINED)) {
      const id = pkId(entry);
      if (id !== undefined) ids.push(id);
    }
    return [...(await this.getItems(ids)).values()].map((item) => {
      const at = Number(item.quarantinedAt?.N);
      return { ...describeCorrupt(item, unmarshallSafe(item), item.quarantineError?.S ?? 'unknown'), ...(Number.isFinite(at) ? { at } : {}) };
    });
  }

  /**
   * Write `next` only if the stored item is still `cur` (same state and version).
   * Audit events ride in the item until CARRIED_EVENTS of them have piled up; then they
   * are written to their own items *before* the write that drops them. A cancel thus
   * costs two writes (claim, outcome), not four, and no event is ever only in memory.
   */
  private async putIfUnchanged(cur: Execution, next: Execution): Promise<Execution | undefined> {
    const newEvent = next.pendingEvent !== undefined && next.pendingEvent.version !== cur.pendingEvent?.version;
    let carried = [...(cur.outboxEvents ?? []), ...(newEvent && cur.pendingEvent ? [cur.pendingEvent] : [])];
    if (carried.length >= CARRIED_EVENTS) {
      await Promise.all(carried.map((ev) => this.flushEvent(ev)));
      carried = [];
    }
    next = { ...next };
    if (carried.length > 0) next.outboxEvents = carried;
    else delete next.outboxEvents;
    try {
      await this.opts.client.send(
        new PutItemCommand({
          TableName: this.opts.tableName,
          Item: this.toItem(next),
          ConditionExpression: '#version = :version AND #state = :state',
          ExpressionAttributeNames: { '#version': 'version', '#state': TABLE.state },
          ExpressionAttributeValues: { ':version': { N: String(cur.version) }, ':state': { S: cur.state } },
        }),
      );
      return next;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  private async flushEvent(ev: AuditEvent): Promise<void> {
    const item = {
      ...ev,
      [TABLE.pk]: `X#${ev.executionId}`,
      [TABLE.sk]: eventSortKey(ev.version),
      [TABLE.ttl]: Math.floor((ev.at + this.opts.retentionMs) / 1000),
    };
    await this.opts.client.send(new PutItemCommand({ TableName: this.opts.tableName, Item: marshall(item, { removeUndefinedValues: true }) }));
  }

  async mutate(id: string, fn: (current: Execution) => Transition, current?: Execution): Promise<WriteOutcome> {
    let cur = current;
    for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
      cur ??= await this.get(id);
      if (!cur) return { ok: false, outcome: 'not_found' };
      const t = fn(cur);
      if (!t.ok) return t;
      const written = await this.putIfUnchanged(cur, t.execution);
      if (written) return { ok: true, execution: written };
      cur = undefined; // somebody else wrote first: re-read and decide again
    }
    const latest = await this.get(id);
    return latest ? { ok: false, outcome: 'conflict', execution: latest } : { ok: false, outcome: 'not_found' };
  }
}

/** Pages of an index read until `limit` keys (those `keep` accepts) or its end: the keys, and where to continue (undefined at the end). */
async function keysUpTo(
  limit: number,
  start: Key | undefined,
  page: (limit: number, start: Key | undefined) => Promise<{ Items?: Key[]; LastEvaluatedKey?: Key }>,
  keep: (k: Key) => boolean = () => true,
): Promise<{ keys: Key[]; next: Key | undefined }> {
  const keys: Key[] = [];
  let next = start;
  do {
    const res = await page(limit - keys.length, next);
    keys.push(...(res.Items ?? []).filter(keep));
    next = res.LastEvaluatedKey;
  } while (next && keys.length < limit);
  return { keys, next };
}

/** Create the table with its indexes if it does not exist (local engines, tests, benchmarks). */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException) && (err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey, ...INDEXES.flatMap((i) => [i.partitionKey, i.sortKey])]
          .filter((k, i, all) => all.findIndex((o) => o.name === k.name) === i)
          .map((k) => ({ AttributeName: k.name, AttributeType: k.type })),
        KeySchema: [
          { AttributeName: TABLE_KEYS.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: TABLE_KEYS.sortKey.name, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: INDEXES.map((i) => ({
          IndexName: i.name,
          KeySchema: [
            { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
            { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: i.projection, ...(i.include ? { NonKeyAttributes: [...i.include] } : {}) },
        })),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException) && (err as { name?: string }).name !== 'ResourceInUseException') throw err;
  }
  for (let i = 0; i < 100; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (d.Table?.TableStatus === 'ACTIVE' && (d.Table.GlobalSecondaryIndexes ?? []).every((g) => g.IndexStatus === 'ACTIVE')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StoreError(`table ${tableName} did not become ACTIVE`);
}
