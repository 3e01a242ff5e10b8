/** What a deployed Lambda sees, locally: the bundled config file, the table, DynamoDB through the SDK's endpoint variable. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Engine } from '../../src/local/engines.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';

/** Write config + secrets file, point the environment at them and at `engine`, create the table. Returns the restore. */
export async function lambdaEnvironment(
  engine: Engine,
  config: { settings: { tableName: string } } & Record<string, unknown>,
  secrets: Record<string, unknown>,
): Promise<() => void> {
  const saved = { ...process.env };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-lambda-'));
  writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(secrets));
  writeFileSync(path.join(dir, 'watchdog.config.json'), JSON.stringify({ ...config, settings: { ...config.settings, secretsFile: 'secrets.json' } }));
  Object.assign(process.env, {
    WATCHDOG_CONFIG_FILE: path.join(dir, 'watchdog.config.json'),
    WATCHDOG_TABLE: config.settings.tableName,
    AWS_ENDPOINT_URL_DYNAMODB: engine.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    // As the construct sets it (a test that follows up through it points both at an SQS stand-in).
    WATCHDOG_FOLLOWUP_QUEUE_URL: 'http://127.0.0.1:9/000000000000/none',
    AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9',
  });
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, config.settings.tableName);
  client.destroy();
  return () => {
    process.env = saved;
  };
}
