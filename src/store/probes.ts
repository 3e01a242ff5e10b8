/**
 * Probe bookkeeping in the execution table, so probes run once per `probeEvery` across
 * concurrent and successive sweeps, and a change of health is noticed exactly once:
 *
 *   probe  pk = "P#<connection>"  sk = "P"  checkedAt, healthy, detail, since
 *
 * `claim` is a conditional update (only when the last check is older than the cadence) that
 * returns the previous health; `record` stores the new verdict. No index keys.
 */
import { ConditionalCheckFailedException, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE } from './table.js';

export interface ProbeLedger {
  /** Claim this connection's probe if due; resolves the previous verdict (undefined: never probed), or false when not due. */
  claim(connection: string, now: number, everyMs: number): Promise<{ healthy?: boolean } | false>;
  record(connection: string, healthy: boolean, detail: string, now: number, changed: boolean): Promise<void>;
}

const key = (connection: string) => ({ [TABLE.pk]: { S: `P#${connection}` }, [TABLE.sk]: { S: 'P' } });

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
}
