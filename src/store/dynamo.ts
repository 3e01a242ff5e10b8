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
  ConditionalCheckFailedException, CreateTableCommand, DescribeTableCommand, type DynamoDBClient,
  GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand, type QueryCommandInput, ResourceInUseException,
  ResourceNotFoundException, ScanCommand, type ScanCommandInput, type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import { shardOf } from '../core/ids.js';
import { type Actor, AuditEvent, Execution, type HeartbeatInput, LIVE_STATES } from '../core/model.js';
import type { Policy } from '../core/policy.js';
import * as T from '../core/transitions.js';
import { InputError, StoreError } from '../errors.js';
import { TABLE, eventSortKey, executionKey } from './table.js';
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
  const str = (k: string) => (typeof raw[k] === 'string' ? { [k]: (raw[k] as string).slice(0, 200) } : {});
  const pk = item[TABLE.pk]?.S ?? '?';
  return { id: pk.startsWith('X#') ? pk.slice(2) : pk, error: error.slice(0, 500), ...str('connection'), ...str('externalId'), ...str('policy') };
}

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  /** Due-index shards: more shards, more parallel due queries, spread writes. */
  shards: number;
  /** The policy governing an execution (needed to recompute dueAt on every change). */
  policyFor: (e: Execution) => Policy;
  retentionMs: number;
  /** Optimistic-concurrency retries for read-modify-write transitions. Default 8. */
  maxRetries?: number;
}

const KeyAttr = z.union([z.object({ S: z.string() }).strict(), z.object({ N: z.string() }).strict()]);
const Cursor = z.record(z.string(), KeyAttr);

function encodeCursor(key: Record<string, AttributeValue> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

function decodeCursor(cursor: string): Record<string, AttributeValue> {
  try {
    return Cursor.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new InputError('invalid cursor: pass the cursor exactly as a previous page returned it');
  }
}

/** Audit events carried inside the execution item before they are flushed to their own items. */
const CARRIED_EVENTS = 6;

export class DynamoExecutionStore implements ExecutionStore {
  private readonly maxRetries: number;

  constructor(private readonly opts: DynamoStoreOptions) {
    this.maxRetries = opts.maxRetries ?? 8;
  }

  private ctx(e: Execution, now: number): T.Ctx {
    return { now, policy: this.opts.policyFor(e), retentionMs: this.opts.retentionMs };
  }

  private toItem(e: Execution): Record<string, AttributeValue> {
    const item: Record<string, unknown> = { ...e, ...executionKey(e.id) };
    if (e.dueAt !== undefined) item[TABLE.dueShard] = String(shardOf(e.id, this.opts.shards));
    return marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: false });
  }

  private static parseExecution(item: Record<string, AttributeValue>): Execution {
    const r = DynamoExecutionStore.tryParse(item);
    if ('execution' in r) return r.execution;
    if (item[TABLE.state]?.S === QUARANTINED) {
      throw new InputError(`execution ${r.corrupt.id} is quarantined (its stored item cannot be read: ${item.quarantineError?.S ?? r.corrupt.error}); see watchdog list --state quarantined`);
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
      await this.opts.client.send(new PutItemCommand({
        TableName: this.opts.tableName,
        Item: this.toItem(e),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': TABLE.pk },
      }));
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
    const res = await this.opts.client.send(new GetItemCommand({
      TableName: this.opts.tableName, Key: marshall(executionKey(id)), ConsistentRead: true,
    }));
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
    const items: Execution[] = [];
    let start = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    // Follow DynamoDB's 1 MB pages until the page is full; the cursor is where we stopped.
    do {
      const base = {
        TableName: this.opts.tableName,
        IndexName: TABLE.stateIndex,
        Limit: limit - items.length,
        ExclusiveStartKey: start,
        ...(conds.length > 0 ? { FilterExpression: conds.join(' AND ') } : {}),
      };
      let res;
      if (filter.state !== undefined) {
        const input: QueryCommandInput = {
          ...base,
          KeyConditionExpression: '#state = :state',
          ExpressionAttributeNames: { ...names, '#state': TABLE.state },
          ExpressionAttributeValues: { ...values, ':state': { S: filter.state } },
          ScanIndexForward: false,
        };
        res = await this.opts.client.send(new QueryCommand(input));
      } else {
        const input: ScanCommandInput = {
          ...base,
          ...(conds.length > 0 ? { ExpressionAttributeNames: names, ExpressionAttributeValues: values } : {}),
        };
        res = await this.opts.client.send(new ScanCommand(input));
      }
      // An unparsable item never breaks a listing: the sweep quarantines it and alerts.
      for (const item of res.Items ?? []) {
        const r = DynamoExecutionStore.tryParse(item);
        if ('execution' in r) items.push(r.execution);
      }
      start = res.LastEvaluatedKey;
    } while (start && items.length < limit);
    const cursor = encodeCursor(start);
    return cursor === undefined ? { items } : { items, cursor };
  }

  async due(now: number, opts: { limit?: number } = {}): Promise<DueResult> {
    const limit = opts.limit ?? Infinity;
    // Each shard is read oldest first, so the oldest share of every shard is roughly the oldest overall.
    const shardLimit = Math.ceil(limit / this.opts.shards);
    const perShard = await Promise.all(
      Array.from({ length: this.opts.shards }, async (_, shard) => {
        const items: Execution[] = [];
        const corrupt: QuarantinedItem[] = [];
        let itemsRead = 0;
        let start: Record<string, AttributeValue> | undefined;
        do {
          const res = await this.opts.client.send(new QueryCommand({
            TableName: this.opts.tableName,
            IndexName: TABLE.dueIndex,
            KeyConditionExpression: '#shard = :shard AND #due <= :now',
            ExpressionAttributeNames: { '#shard': TABLE.dueShard, '#due': TABLE.dueAt },
            ExpressionAttributeValues: { ':shard': { S: String(shard) }, ':now': { N: String(now) } },
            ExclusiveStartKey: start,
            ...(Number.isFinite(shardLimit) ? { Limit: Math.max(1, shardLimit - items.length) } : {}),
          }));
          itemsRead += res.ScannedCount ?? 0;
          for (const item of res.Items ?? []) {
            const r = DynamoExecutionStore.tryParse(item);
            if ('execution' in r) items.push(r.execution);
            else corrupt.push(r.corrupt);
          }
          start = res.LastEvaluatedKey;
        } while (start && items.length < shardLimit);
        return { items, corrupt, itemsRead };
      }),
    );
    const items = perShard.flatMap((s) => s.items).sort((a, b) => (a.dueAt ?? 0) - (b.dueAt ?? 0));
    return { items: items.slice(0, limit), corrupt: perShard.flatMap((s) => s.corrupt), itemsRead: perShard.reduce((n, s) => n + s.itemsRead, 0) };
  }

  async quarantine(id: string, error: string, now: number): Promise<boolean> {
    try {
      await this.opts.client.send(new UpdateItemCommand({
        TableName: this.opts.tableName,
        Key: marshall(executionKey(id)),
        // trackedAt keeps it in the byState index (where `quarantined()` finds it) even when the item lacks one.
        UpdateExpression: 'SET #state = :q, quarantinedAt = :now, quarantineError = :err, #tracked = if_not_exists(#tracked, :now) REMOVE #shard, #due',
        ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#state) OR #state <> :q)',
        ExpressionAttributeNames: { '#state': TABLE.state, '#shard': TABLE.dueShard, '#due': TABLE.dueAt, '#pk': TABLE.pk, '#tracked': TABLE.trackedAt },
        ExpressionAttributeValues: { ':q': { S: QUARANTINED }, ':now': { N: String(now) }, ':err': { S: error.slice(0, 1000) } },
      }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  /** Every item a query matches, across DynamoDB's pages. */
  private async *queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): AsyncGenerator<Record<string, AttributeValue>> {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const res = await this.opts.client.send(new QueryCommand({ TableName: this.opts.tableName, ...input, ExclusiveStartKey: start }));
      yield* res.Items ?? [];
      start = res.LastEvaluatedKey;
    } while (start);
  }

  async overdue(before: number): Promise<string[]> {
    const ids: string[] = [];
    for (const state of LIVE_STATES) {
      for await (const item of this.queryAll({
        IndexName: TABLE.stateIndex,
        KeyConditionExpression: '#state = :state',
        FilterExpression: '#due <= :before',
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { '#state': TABLE.state, '#due': TABLE.dueAt, '#pk': TABLE.pk },
        ExpressionAttributeValues: { ':state': { S: state }, ':before': { N: String(before) } },
      })) {
        const pk = item[TABLE.pk]?.S;
        if (pk?.startsWith('X#')) ids.push(pk.slice(2));
      }
    }
    return ids;
  }

  async inDueIndex(e: Execution): Promise<boolean> {
    if (e.dueAt === undefined) return false;
    const res = await this.opts.client.send(new QueryCommand({
      TableName: this.opts.tableName,
      IndexName: TABLE.dueIndex,
      KeyConditionExpression: '#shard = :shard AND #due = :due',
      FilterExpression: '#pk = :pk',
      ProjectionExpression: '#pk',
      ExpressionAttributeNames: { '#shard': TABLE.dueShard, '#due': TABLE.dueAt, '#pk': TABLE.pk },
      ExpressionAttributeValues: { ':shard': { S: String(shardOf(e.id, this.opts.shards)) }, ':due': { N: String(e.dueAt) }, ':pk': { S: `X#${e.id}` } },
    }));
    return (res.Items ?? []).length > 0;
  }

  async quarantined(): Promise<QuarantinedItem[]> {
    const out: QuarantinedItem[] = [];
    for await (const item of this.queryAll({
      IndexName: TABLE.stateIndex,
      KeyConditionExpression: '#state = :q',
      ExpressionAttributeNames: { '#state': TABLE.state },
      ExpressionAttributeValues: { ':q': { S: QUARANTINED } },
    })) {
      const at = Number(item.quarantinedAt?.N);
      out.push({ ...describeCorrupt(item, unmarshallSafe(item), item.quarantineError?.S ?? 'unknown'), ...(Number.isFinite(at) ? { at } : {}) });
    }
    return out;
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
      await this.opts.client.send(new PutItemCommand({
        TableName: this.opts.tableName,
        Item: this.toItem(next),
        ConditionExpression: '#version = :version AND #state = :state',
        ExpressionAttributeNames: { '#version': 'version', '#state': TABLE.state },
        ExpressionAttributeValues: { ':version': { N: String(cur.version) }, ':state': { S: cur.state } },
      }));
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

  async mutate(id: string, fn: (current: Execution) => T.Transition, current?: Execution): Promise<WriteOutcome> {
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

  heartbeat(id: string, input: HeartbeatInput, actor: Actor, now: number): Promise<WriteOutcome> {
    return this.mutate(id, (e) => T.applyHeartbeat(e, input, actor, this.ctx(e, now)));
  }

  markFinished(id: string, actor: Actor, now: number, providerStatus?: string): Promise<WriteOutcome> {
    return this.mutate(id, (e) => T.markFinished(e, actor, this.ctx(e, now), providerStatus));
  }

  requestCancel(id: string, reason: string | undefined, actor: Actor, now: number): Promise<WriteOutcome> {
    return this.mutate(id, (e) => T.requestCancel(e, ['manual'], actor, this.ctx(e, now), reason));
  }

  claimCancel(id: string, input: T.ClaimInput, now: number, current?: Execution): Promise<WriteOutcome> {
    return this.mutate(id, (e) => T.claimCancel(e, input, this.ctx(e, now)), current);
  }

  recordOutcome(id: string, owner: string, result: T.CancelResult, actor: Actor, now: number): Promise<WriteOutcome> {
    return this.mutate(id, (e) => T.recordOutcome(e, owner, result, actor, this.ctx(e, now)));
  }

  extend(id: string, ms: number, actor: Actor, now: number, reason?: string): Promise<WriteOutcome> {
    return this.mutate(id, (e) => T.extend(e, ms, actor, this.ctx(e, now), reason));
  }
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
    await client.send(new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TABLE.pk, AttributeType: 'S' },
        { AttributeName: TABLE.sk, AttributeType: 'S' },
        { AttributeName: TABLE.dueShard, AttributeType: 'S' },
        { AttributeName: TABLE.dueAt, AttributeType: 'N' },
        { AttributeName: TABLE.state, AttributeType: 'S' },
        { AttributeName: TABLE.trackedAt, AttributeType: 'N' },
      ],
      KeySchema: [
        { AttributeName: TABLE.pk, KeyType: 'HASH' },
        { AttributeName: TABLE.sk, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE.dueIndex,
          KeySchema: [{ AttributeName: TABLE.dueShard, KeyType: 'HASH' }, { AttributeName: TABLE.dueAt, KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: TABLE.stateIndex,
          KeySchema: [{ AttributeName: TABLE.state, KeyType: 'HASH' }, { AttributeName: TABLE.trackedAt, KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }));
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
