/**
 * Replay protection inside the signature window: each accepted mutating request leaves a
 * small item keyed by its identity (a signature, Slack's trigger id, a Teams activity id),
 * written with a conditional put. The second copy of the same request loses the condition
 * and is answered "already handled"; nothing else changes. The item expires with the
 * window (TTL on `expiresAt`); an expired one may be overwritten even where the engine has
 * no TTL (dynalite), because the condition also accepts an item whose time has passed.
 *
 *   nonce  pk = "N#<sha256(identity)>"  sk = "N"  expiresAt = window end (epoch seconds)
 *
 * Nonce items carry no index keys, so they stay out of the `due` and `byState` indexes.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE } from './table.js';

export interface ReplayGuard {
  /** True the first time `identity` is seen within `windowMs`; false for every later copy. */
  firstSeen(identity: string, windowMs: number, now: number): Promise<boolean>;
}

export class DynamoReplayGuard implements ReplayGuard {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async firstSeen(identity: string, windowMs: number, now: number): Promise<boolean> {
    const key = `N#${createHash('sha256').update(identity).digest('base64url')}`;
    const nowSec = Math.floor(now / 1000);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { [TABLE.pk]: { S: key }, [TABLE.sk]: { S: 'N' }, [TABLE.ttl]: { N: String(Math.ceil((now + windowMs) / 1000)) } },
          ConditionExpression: 'attribute_not_exists(#pk) OR #exp < :now',
          ExpressionAttributeNames: { '#pk': TABLE.pk, '#exp': TABLE.ttl },
          ExpressionAttributeValues: { ':now': { N: String(nowSec) } },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }
}
