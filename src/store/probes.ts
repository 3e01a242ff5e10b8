/**
 * Probe bookkeeping in the execution table, so probes run once per `probeEvery` across
 * concurrent and successive sweeps, and a change of health is noticed exactly once:
 *
 *   probe  pk = "P#<connection>"  sk = "P"  checkedAt, healthy, detail, since
 *
 * Discovery claims its cadence the same way (key `discover:<connection>`; no connection name
 * holds ':') and keeps its latest report there, for `watchdog coverage` and chat.
 *
 * `claim` is a conditional update (only when the last check is older than the cadence) that
 * returns the previous health; `record` stores the new verdict. No index keys.
 */
import { BatchGetItemCommand, ConditionalCheckFailedException, type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE } from './table.js';

export interface ProbeLedger {
  /** Claim this connection's probe if due; resolves the previous verdict (undefined: never probed), or false when not due. */
  claim(connection: string, now: number, everyMs: number): Promise<{ healthy?: boolean } | false>;
  record(connection: string, healthy: boolean, detail: string, now: number, changed: boolean): Promise<void>;
  recordDiscovery(report: DiscoveryRecord): Promise<void>;
  /** The latest discovery report of each of these connections that has one. */
  discoveries(connections: readonly string[]): Promise<DiscoveryRecord[]>;
  /** The webhook could not take a tracking request (its own dependency failed) at `at`. */
  recordIngestFault(at: number): Promise<void>;
  /** When the webhook last could not take a tracking request, if ever. */
  lastIngestFault(): Promise<number | undefined>;
}

/** The ledger key of ingest faults (no connection name holds '#'). */
export const INGEST_KEY = '#ingest';

/** One run of discovery on one connection (docs/coverage.md). */
export interface DiscoveryRecord {
  connection: string;
  at: number;
  durationMs: number;
  /** Running on the platform, as listed (every page read). */
  running: number;
  /** Of those, tracked by a tracker (the system that started them). */
  tracked: number;
  /** Of those, tracked by discovery (this run or an earlier one): nobody integrated them. */
  byDiscovery: number;
  /** Tracked by this run (part of byDiscovery). */
  discovered: number;
  /** Listed and still not tracked (a write failed, or the budget ran out first). */
  untracked: number;
  /** The first untracked external ids (at most UNTRACKED_KEPT). */
  untrackedIds: string[];
  pages: number;
  /** List items that were not a run with a valid id: ignored. */
  skipped: number;
  /** Every page was read (not cut by the page or time budget, no failed call). */
  complete: boolean;
  error?: string;
}

export const UNTRACKED_KEPT = 50;
export const discoveryKey = (connection: string): string => `discover:${connection}`;

/** The partition key of a ledger entry (also the construct's condition on the webhook's one UpdateItem). */
export const ledgerPartitionKey = (entry: string): string => `P#${entry}`;
const key = (entry: string) => ({ [TABLE.pk]: { S: ledgerPartitionKey(entry) }, [TABLE.sk]: { S: 'P' } });

export class DynamoProbeLedger implements ProbeLedger {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async claim(connection: string, now: number, everyMs: number): Promise<{ healthy?: boolean } | false> {
    try {
      const res = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(connection),
          UpdateExpression: 'SET checkedAt = :now',
          ConditionExpression: 'attribute_not_exists(checkedAt) OR checkedAt <= :due',
          ExpressionAttributeValues: { ':now': { N: String(now) }, ':due': { N: String(now - everyMs) } },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const healthy = res.Attributes?.healthy?.BOOL;
      return healthy === undefined ? {} : { healthy };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  async record(connection: string, healthy: boolean, detail: string, now: number, changed: boolean): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(connection),
        UpdateExpression: `SET healthy = :h, detail = :d${changed ? ', since = :now' : ''}`,
        ExpressionAttributeValues: { ':h': { BOOL: healthy }, ':d': { S: detail.slice(0, 500) }, ...(changed ? { ':now': { N: String(now) } } : {}) },
      }),
    );
  }

  async recordDiscovery(r: DiscoveryRecord): Promise<void> {
    const kept: DiscoveryRecord = { ...r, untrackedIds: r.untrackedIds.slice(0, UNTRACKED_KEPT).map((id) => id.slice(0, 200)) };
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(discoveryKey(r.connection)),
        UpdateExpression: 'SET report = :r',
        ExpressionAttributeValues: { ':r': { S: JSON.stringify(kept) } },
      }),
    );
  }

  async recordIngestFault(at: number): Promise<void> {
    // Only ever later: concurrent webhooks cannot move it back.
    await this.client
      .send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(INGEST_KEY),
          UpdateExpression: 'SET faultAt = :at',
          ConditionExpression: 'attribute_not_exists(faultAt) OR faultAt < :at',
          ExpressionAttributeValues: { ':at': { N: String(at) } },
        }),
      )
      .catch((err: unknown) => {
        if ((err as { name?: string }).name !== 'ConditionalCheckFailedException') throw err;
      });
  }

  async lastIngestFault(): Promise<number | undefined> {
    const res = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(INGEST_KEY), ProjectionExpression: 'faultAt', ConsistentRead: true }),
    );
    const n = res.Item?.faultAt?.N;
    return n === undefined ? undefined : Number(n);
  }

  async discoveries(connections: readonly string[]): Promise<DiscoveryRecord[]> {
    if (connections.length === 0) return [];
    const out: DiscoveryRecord[] = [];
    for (let i = 0; i < connections.length; i += 100) {
      let keys: Array<ReturnType<typeof key>> | undefined = connections.slice(i, i + 100).map((c) => key(discoveryKey(c)));
      for (let attempt = 0; keys && keys.length > 0 && attempt < 5; attempt++) {
        const res = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: keys, ProjectionExpression: 'report' } } }));
        for (const item of res.Responses?.[this.tableName] ?? []) {
          const raw = item.report?.S;
          if (raw === undefined) continue;
          try {
            out.push(JSON.parse(raw) as DiscoveryRecord);
          } catch {
            // an unreadable report is as good as none
          }
        }
        keys = res.UnprocessedKeys?.[this.tableName]?.Keys as typeof keys;
      }
    }
    return out;
  }
}
