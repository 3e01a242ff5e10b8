/**
 * The sweeper that stays awake (src/app/loop.ts), on dynalite with the simulators and the
 * real clock: two overlapping invocations (two holders looping over the same table, as when
 * an invocation runs into the next one) cancel each runaway exactly once, whichever pass gets
 * there first; each cancel reports its breach → cancel time.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sweepLoop } from '../../src/app/loop.js';
import type { SweepSummary } from '../../src/app/sweep.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { HOUR } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, peer, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynalite(), startServers()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([engine?.close(), servers?.close()]);
});

/** The wall clock, for a loop that really waits. */
class WallClock extends Clock {
  override now = (): number => Date.now();
}

it('two overlapping invocations: runaways breaching at different moments are each cancelled once', async () => {
  const clock = new WallClock(Date.now());
  const config = worldConfig(servers, { policies: [{ name: 'bulk', maxRuntime: '1h' }] });
  const { rt, client, tableName } = await freshRuntime(engine, undefined, config, servers, clock);
  const other = peer(rt, servers, client, tableName, clock, 'sweep-b');
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const externalId = `loop-${i}`;
    // Crossing the one-hour limit between 0.2 and 2.4 s from now.
    const startedAt = Date.now() - HOUR + 200 + i * 200;
    servers.sims.catalyzed.add({ id: externalId, state: 'running', startedAt });
    ids.push((await rt.watchdog.track({ connection: 'catalyzed-c', externalId, policy: 'bulk', startedAt }, { id: 'test', via: 'test' })).execution.id);
  }
  const passes: SweepSummary[] = [];
  const endAt = Date.now() + 3_500;
  const loops = await Promise.all([rt, other].map((r) => sweepLoop({ sweeper: r.sweeper, tickMs: 150, endAt, onPass: (s) => void passes.push(s) })));
  expect(loops.every((n) => n > 2)).toBe(true);
  for (let i = 0; i < 12; i++) expect(`loop-${i}: ${servers.sims.catalyzed.cancelCalls.get(`loop-${i}`)}`).toBe(`loop-${i}: 1`);
  for (const id of ids) expect((await rt.store.get(id))!.state).toBe('cancelled');
  // One breach → cancel figure per cancel sent, whichever holder sent it.
  expect(passes.flatMap((p) => p.breachToCancelMs)).toHaveLength(12);
}, 30_000);
