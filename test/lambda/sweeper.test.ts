/**
 * The sweeper Lambda handler, in-process: config from the bundled-file env var, table from
 * the environment, DynamoDB through AWS_ENDPOINT_URL_DYNAMODB (dynalite), EMF on stdout.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { closePools } from '../../src/providers/http.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { HOUR } from '../helpers/fixtures.js';

let engine: Engine;
let sim: Simulator;
const saved = { ...process.env };

beforeAll(async () => {
  [engine, sim] = await Promise.all([startDynalite(), startSimulator('superglue')]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-lambda-'));
  writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify({ sg: { apiKey: sim.apiKey } }));
  const config = {
    settings: { secretsFile: 'secrets.json', tableName: 'lambda-table' },
    connections: { sg: { provider: 'superglue', baseUrl: sim.url, secret: 'sg' } },
    policies: [{ name: 'default', maxRuntime: '1h' }],
  };
  writeFileSync(path.join(dir, 'watchdog.config.json'), JSON.stringify(config));
  Object.assign(process.env, {
    WATCHDOG_CONFIG_FILE: path.join(dir, 'watchdog.config.json'), WATCHDOG_TABLE: 'lambda-table',
    AWS_ENDPOINT_URL_DYNAMODB: engine.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x',
  });
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, 'lambda-table');
  client.destroy();
});
afterAll(async () => {
  process.env = saved;
  await closePools();
  await Promise.all([engine?.close(), sim?.close()]);
});

it('runs one sweep, cancels the runaway, and publishes EMF metrics', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'lambda-run' });
  await rt.watchdog.track({ connection: 'sg', externalId: 'lambda-run', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' });

  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  let result: Record<string, unknown>;
  try {
    const { handler } = await import('../../lambdas/sweeper.js');
    result = await handler({}, { getRemainingTimeInMillis: () => 60_000 });
  } finally {
    spy.mockRestore();
  }
  expect(result.cancelled).toBe(1);
  expect(sim.cancelCalls.get('lambda-run')).toBe(1);
  const emf = lines.map((l) => l.trim()).filter((l) => l.includes('CloudWatchMetrics')).map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(emf).toHaveLength(1);
  expect(emf[0]!.Cancelled).toBe(1);
  expect(emf[0]!.Evaluated).toBe(1);
  expect((emf[0]!._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]!.Namespace).toBe('RunawayWatchdog');
  expect(lines.join('')).toContain('sweep summary');
});
