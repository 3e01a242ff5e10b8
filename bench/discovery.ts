/**
 * Discovery benchmarks on DynamoDB Local with the simulators:
 *  - discovery_calls_per_page: provider requests of one discovery (1,000 running, 100 a page)
 *    ÷ pages read: discovery reads the list and nothing per run (target 1).
 *  - discovery_sweep_overhead: a sweep of 1,000 due cancels at 50 ms provider latency (the
 *    sweep_time_vs_bound sweep) with discovery of 1,000 running runs on another connection ÷
 *    the same sweep without, same run. Steady state: the 1,000 are already known (every later
 *    cadence); `_first`: the first discovery, which tracks all 1,000 (once per run's life).
 */
import { forEachLimit } from '../src/app/limiter.js';
import { javaAvailable, startDynamoDbLocal } from '../src/local/engines.js';
import type { Engine } from '../src/local/engines.js';
import { Clock, type Servers, freshRuntime, startServers, worldConfig } from '../test/helpers/world.js';
import type { Line } from './run.js';

const HOUR = 3_600_000;
const actor = { id: 'bench', via: 'bench' };

/** One sweep over `n` due cancels on catalyzed (50 ms latency); discovery on superglue when `discover`. */
async function sweepOnce(engine: Engine, servers: Servers, o: { discover: boolean; tag: string; prime?: boolean }): Promise<number> {
  const clock = new Clock(0);
  clock.now = Date.now;
  const config = worldConfig(servers, {
    settings: { providerConcurrency: 16, probeEvery: '0', repairEvery: '0' },
    ...(o.discover
      ? {
          connections: { 'superglue-c': { provider: 'superglue', baseUrl: servers.sims.superglue.url, secret: 'key-superglue', discover: { policy: 'bulk' } } },
        }
      : {}),
  });
  const { rt, client } = await freshRuntime(engine, undefined, config, servers, clock);
  try {
    if (o.prime) await rt.sweeper.discoverNow('superglue-c'); // steady state: every run already known
    const ids = Array.from({ length: 1000 }, (_, i) => `${o.tag}-${i}`);
    await forEachLimit(ids, 64, async (id) => {
      servers.sims.catalyzed.add({ id });
      await rt.watchdog.track({ connection: 'catalyzed-c', externalId: id, policy: 'bulk', startedAt: Date.now() - 2 * HOUR }, actor);
    });
    servers.sims.catalyzed.faults = { latencyMs: 50 };
    const s = await rt.sweeper.run();
    servers.sims.catalyzed.faults = {};
    if (s.cancelled + s.pending !== 1000) throw new Error(`expected 1,000 cancels, got ${s.cancelled + s.pending}`);
    if (o.discover && !s.discoveries.some((d) => d.connection === 'superglue-c' && d.running === 1000 && d.complete)) throw new Error('discovery did not run');
    return s.durationMs;
  } finally {
    client.destroy();
  }
}

export async function benchDiscovery(): Promise<Line[]> {
  const names = ['discovery_calls_per_page', 'discovery_sweep_overhead', 'discovery_sweep_overhead_first'];
  if (!javaAvailable()) return names.map((name) => ({ name, value: null, unit: '', target: '', why: 'DynamoDB Local needs Java' }));
  const [engine, servers] = await Promise.all([startDynamoDbLocal(), startServers({ kodexaCancelMs: 20 })]);
  const lines: Line[] = [];
  try {
    const sg = servers.sims.superglue;
    for (let i = 0; i < 1000; i++) sg.add({ id: `found-${i}`, startedAt: Date.now() - 10 * 60_000 });
    // 1. Calls per page.
    {
      const clock = new Clock(0);
      clock.now = Date.now;
      const config = worldConfig(servers, {
        connections: { 'superglue-c': { provider: 'superglue', baseUrl: sg.url, secret: 'key-superglue', discover: { policy: 'bulk' } } },
      });
      const { rt, client } = await freshRuntime(engine, undefined, config, servers, clock);
      let requests = 0;
      sg.onRequest = () => requests++;
      const d = await rt.sweeper.discoverNow('superglue-c');
      sg.onRequest = undefined;
      client.destroy();
      lines.push({
        name: 'discovery_calls_per_page',
        value: Math.round((requests / d.pages) * 100) / 100,
        unit: 'calls/page',
        target: '= 1',
        pages: d.pages,
        running: d.running,
        discovered: d.discovered,
        durationMs: d.durationMs,
      });
    }
    // 2. Overhead on a sweep, same run: warm-up, then without / steady / first, twice each, best of two.
    await sweepOnce(engine, servers, { discover: false, tag: 'warm' });
    const best = async (o: { discover: boolean; prime?: boolean }, tag: string) =>
      Math.min(await sweepOnce(engine, servers, { ...o, tag: `${tag}a` }), await sweepOnce(engine, servers, { ...o, tag: `${tag}b` }));
    const without = await best({ discover: false }, 'off');
    const steady = await best({ discover: true, prime: true }, 'steady');
    const first = await best({ discover: true }, 'first');
    const ratio = (x: number) => Math.round((x / without) * 100) / 100;
    lines.push(
      { name: 'discovery_sweep_overhead', value: ratio(steady), unit: 'ratio', target: '<= 1.3', withMs: steady, withoutMs: without, runs: 1000, known: true },
      {
        name: 'discovery_sweep_overhead_first',
        value: ratio(first),
        unit: 'ratio',
        target: 'reported',
        withMs: first,
        withoutMs: without,
        runs: 1000,
        known: false,
      },
    );
  } finally {
    await Promise.all([engine.close(), servers.close()]);
  }
  return lines;
}
