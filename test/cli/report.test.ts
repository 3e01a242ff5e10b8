/**
 * `watchdog report`: the figures over a window, from runs the real sweep and a person handled
 * (dynalite, provider simulators), and the command itself on an embedded store.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../src/app/report.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { HOUR, MIN, T0 } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
let client: DynamoDBClient | undefined;
beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynalite(), startServers()]);
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});

const tracker = { id: 'tracker', via: 'api' };

describe('watchdog report', () => {
  it('counts what was watched, warned, extended and stopped; cost and burn rate at cancel; breach to cancel', async () => {
    const clock = new Clock(T0);
    const config = worldConfig(servers, {
      policies: [{ name: 'metered', maxRuntime: '1h', costPerHourUsd: 12, maxExtension: '2h' }],
    });
    const w = await freshRuntime(engine, client, config, servers, clock);
    client = w.client;
    const { rt } = w;
    const track = async (platform: 'catalyzed' | 'superglue' | 'ionworks', id: string, agoMs: number) => {
      servers.sims[platform].add({ id, state: 'running', startedAt: Date.now() });
      return (await rt.watchdog.track({ connection: `${platform}-c`, externalId: id, startedAt: clock.t - agoMs }, tracker)).execution;
    };
    // Over its runtime by an hour: the policy cancels it ($24 at $12/h over 2h; breach 1h before the sweep).
    const runaway = await track('catalyzed', 'runaway', 2 * HOUR);
    // A person cancels a run that reported $30 after 30 minutes ($60/h).
    const costly = await track('superglue', 'costly', 30 * MIN);
    await rt.watchdog.heartbeat(costly.id, { costUsd: 30 });
    const byHand = await rt.watchdog.cancelNow(costly.id, { id: 'slack:UONCALL', via: 'slack' }, 'too expensive');
    if (!('settled' in byHand)) throw new Error(`cancel refused: ${byHand.outcome}`);
    await byHand.settled;
    // Warned at 48 minutes, extended, then finished by its tracker.
    const ok = await track('ionworks', 'ok', 50 * MIN);
    await rt.sweeper.run();
    await rt.watchdog.extend(ok.id, '30m', { id: 'slack:UONCALL', via: 'slack' });
    await rt.watchdog.finish(ok.id, tracker);
    // Finished on the platform just before its cancel: recorded as finished.
    servers.sims.catalyzed.add({ id: 'late', state: 'succeeded', startedAt: Date.now() });
    await rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'late', startedAt: clock.t - 3 * HOUR }, tracker);
    await rt.sweeper.run();
    // Ended before the window: not counted.
    clock.advance(8 * 24 * HOUR);

    const r = await buildReport(rt.watchdog, T0 - MIN, T0 + MIN);
    expect(r).toMatchObject({
      watched: 4,
      warned: 1,
      extended: 1,
      cancelled: 2,
      cancelledByLimit: { runtime: 1 },
      cancelledByPerson: { 'slack:UONCALL': 1 },
      finishedBeforeCancel: 1,
      cancelFailed: 0,
      costAtCancelUsd: 54,
      burnRateStoppedUsdPerHour: 72,
      breachToCancelMs: { count: 1, p50: HOUR, max: HOUR },
    });
    expect((await rt.store.get(runaway.id))?.state).toBe('cancelled');
    const later = await buildReport(rt.watchdog, clock.t - 7 * 24 * HOUR, clock.t);
    expect(later).toMatchObject({ watched: 0, cancelled: 0 });
  });

  it('the digest (settings.digest): the report of the last period to its targets, once per period across sweeps', async () => {
    const clock = new Clock(T0 + 30 * 24 * HOUR);
    const config = worldConfig(servers, {
      settings: { digest: { to: ['chat'], every: '7d' }, probeEvery: '0' },
      policies: [{ name: 'metered', maxRuntime: '1h', costPerHourUsd: 12 }],
    });
    const w = await freshRuntime(engine, client, config, servers, clock);
    client = w.client;
    servers.sims.catalyzed.add({ id: 'digested', state: 'running', startedAt: Date.now() });
    await w.rt.watchdog.track({ connection: 'catalyzed-c', externalId: 'digested', startedAt: clock.t - 2 * HOUR }, tracker);
    const digests = () => servers.slack.posts.filter((p) => p.text.startsWith('Runaway Watchdog: the last 7d'));
    const before = digests().length;
    await w.rt.sweeper.run();
    expect(digests()).toHaveLength(before + 1);
    const text = JSON.stringify(digests().at(-1)?.blocks);
    expect(digests().at(-1)?.text).toMatch(/1 runs watched, 1 cancelled \(\$12\.00\/h of spend stopped\)/);
    expect(text).toContain('by limit*\\nruntime 1');
    clock.advance(HOUR);
    await w.rt.sweeper.run();
    expect(digests()).toHaveLength(before + 1);
    clock.advance(7 * 24 * HOUR);
    await w.rt.sweeper.run();
    expect(digests()).toHaveLength(before + 2);
    expect(digests().at(-1)?.text).toMatch(/0 runs watched/);
  });

  it('the command: a table, --json, and a clear error for a bad --since', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'wd-report-'));
    const run = promisify(execFile);
    const bin = path.resolve('bin/watchdog.mjs');
    const env = { ...process.env, WATCHDOG_CONFIG: '' };
    await run(process.execPath, [bin, '--data-dir', dataDir, 'track', 'catalyzed-prod', 'r1'], { env });
    const table = await run(process.execPath, [bin, '--data-dir', dataDir, 'report', '--since', '7d'], { env });
    expect(table.stdout).toMatch(/report for the last 7d/);
    expect(table.stdout).toMatch(/runs watched\s+1/);
    const json = JSON.parse((await run(process.execPath, [bin, '--data-dir', dataDir, '--json', 'report'], { env })).stdout) as { watched: number };
    expect(json.watched).toBe(1);
    await expect(run(process.execPath, [bin, '--data-dir', dataDir, 'report', '--since', 'a week'], { env })).rejects.toMatchObject({
      stderr: expect.stringMatching(/--since expects a duration like "7d"/),
    });
  }, 60_000);
});
