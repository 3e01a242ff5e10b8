/**
 * The sweeper Lambda handler, in-process: config from the bundled-file env var, table from
 * the environment, DynamoDB through AWS_ENDPOINT_URL_DYNAMODB (dynalite), EMF on stdout.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { lambdaEnvironment } from '../helpers/lambda.js';
import { HOUR } from '../helpers/fixtures.js';

let engine: Engine;
let sim: Simulator;
let restore = () => {};

beforeAll(async () => {
  [engine, sim] = await Promise.all([startDynalite(), startSimulator('superglue')]);
  restore = await lambdaEnvironment(
    engine,
    {
      settings: { tableName: 'lambda-table' },
      connections: { sg: { provider: 'superglue', baseUrl: sim.url, secret: 'sg', discover: { every: '5m' } } },
      policies: [{ name: 'default', maxRuntime: '1h' }],
    },
    { sg: { apiKey: sim.apiKey } },
  );
});
afterAll(async () => {
  restore();
  await Promise.all([engine?.close(), sim?.close()]);
});

it('runs one sweep, cancels the runaway, and publishes EMF metrics', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'lambda-run' });
  sim.add({ id: 'nobody-tracked-this' });
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
  const emf = lines
    .map((l) => l.trim())
    .filter((l) => l.includes('CloudWatchMetrics'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  // The sweep's document, one per probed connection, two per connection discovered on.
  expect(emf).toHaveLength(4);
  const sweep = emf.find((d) => 'SweepCompleted' in d)!;
  expect(sweep.Cancelled).toBe(1);
  expect(sweep.Evaluated).toBe(1);
  expect(sweep.SweepCompleted).toBe(1);
  expect(sweep.SweepErrors).toBe(0);
  expect((sweep._aws as { CloudWatchMetrics: Array<{ Namespace: string }> }).CloudWatchMetrics[0]!.Namespace).toBe('RunawayWatchdog');
  const probe = emf.find((d) => 'ConnectionUnhealthy' in d)!;
  expect(probe).toMatchObject({ connection: 'sg', ConnectionUnhealthy: 0, service: 'sweeper' });
  expect(sweep.Discovered).toBe(1);
  expect(emf.find((d) => 'Untracked' in d)).toMatchObject({ connection: 'sg', Untracked: 0, service: 'sweeper' });
  expect(emf.find((d) => 'DiscoveryIncomplete' in d)).toMatchObject({ connection: 'sg', DiscoveryIncomplete: 0, service: 'sweeper' });
  expect(lines.join('')).toContain('sweep summary');
});

it('continuous (the default in AWS): one invocation sweeps pass after pass until shortly before the next schedule; a run that breaches mid-invocation is cancelled by a later pass, and every pass reports SweepCompleted and BreachToCancelMs', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'breaks-mid-invocation' });
  // Its one-hour limit is crossed ~1.2 s into the invocation.
  const { execution } = await rt.watchdog.track(
    { connection: 'sg', externalId: 'breaks-mid-invocation', startedAt: Date.now() - HOUR + 1_200 },
    { id: 'test', via: 'test' },
  );
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  process.env.WATCHDOG_SWEEP_EVERY_MS = '4000'; // a compressed schedule: the loop ends ~1 s before the next one
  const started = Date.now();
  let result: Record<string, unknown>;
  try {
    const { handler } = await import('../../lambdas/sweeper.js');
    result = await handler({}, { getRemainingTimeInMillis: () => 300_000 - (Date.now() - started) });
  } finally {
    spy.mockRestore();
    delete process.env.WATCHDOG_SWEEP_EVERY_MS;
  }
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(1_500); // passes every second (the tick) until the last one before the margin
  expect(elapsed).toBeLessThan(4_000); // never into the next invocation's time
  expect(result).toMatchObject({ cancelled: 1 });
  expect(sim.cancelCalls.get('breaks-mid-invocation')).toBe(1);
  expect((await rt.store.get(execution.id))!.state).toBe('cancelled');
  const docs = lines
    .map((l) => l.trim())
    .filter((l) => l.includes('"SweepCompleted"'))
    .map((l) => JSON.parse(l) as { SweepCompleted: number | number[]; BreachToCancelMs?: number | number[] });
  const passes = docs.flatMap((d) => (Array.isArray(d.SweepCompleted) ? d.SweepCompleted : [d.SweepCompleted]));
  expect(passes.length).toBeGreaterThan(1);
  const b2c = docs.flatMap((d) => (d.BreachToCancelMs === undefined ? [] : Array.isArray(d.BreachToCancelMs) ? d.BreachToCancelMs : [d.BreachToCancelMs]));
  expect(b2c).toHaveLength(1);
});
