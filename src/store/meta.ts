/**
 * What is running against this table: each sweeper (Lambda cold start, `npm start`) records
 * the fingerprint of the config it runs, so `watchdog doctor` can tell whether the deployed
 * config is the file you are looking at.
 *
 *   config  pk = "C#config"  sk = "C"  sha256, by, at
 */
import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE } from './table.js';

const KEY = { [TABLE.pk]: { S: 'C#config' }, [TABLE.sk]: { S: 'C' } };

export interface RunningConfig {
  sha256: string;
  by: string;
  at: number;
}

export async function recordRunningConfig(client: DynamoDBClient, tableName: string, r: RunningConfig): Promise<void> {
  await client.send(new PutItemCommand({ TableName: tableName, Item: { ...KEY, sha256: { S: r.sha256 }, by: { S: r.by }, at: { N: String(r.at) } } }));
}

export async function readRunningConfig(client: DynamoDBClient, tableName: string): Promise<RunningConfig | undefined> {
  const res = await client.send(new GetItemCommand({ TableName: tableName, Key: KEY, ConsistentRead: true }));
  const sha256 = res.Item?.sha256?.S;
  if (!sha256) return undefined;
  return { sha256, by: res.Item?.by?.S ?? '?', at: Number(res.Item?.at?.N ?? 0) };
}
