/**
 * Sweep benchmarks on DynamoDB Local with the provider simulators:
 *  - sweep_time_vs_bound: 1,000 due cancels at 50 ms provider latency, one sweep, divided
 *    by the larger of the provider bound (1,000 × 50 ms ÷ providerConcurrency) and the store's
 *    floor measured in the same run (the same conditional writes at the same concurrency).
 *  - duplicate_cancels: 4 concurrent sweeps over 2,000 runaways on five platforms; extra
 *    provider cancel calls beyond one per execution.
 *  - due_lag_p50_ms / due_lag_p99_ms: breach (dueAt) → cancel request received by the
 *    simulator, with sweeps every second over deadlines spread across 5 s.
 */
import { javaAvailable, startDynamoDbLocal } from '../src/local/engines.js';
import type { Runtime } from '../src/runtime.js';
import type { Execution } from '../src/core/model.js';
import { claimCancel, recordOutcome } from '../src/core/transitions.js';
import { Clock, PLATFORMS, freshRuntime, peer, startServers, worldConfig } from '../test/helpers/world.js';
import type { Line } from './run.js';

const HOUR = 3_600_000;
const actor = { id: 'bench', via: 'bench' };

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++] as T);
    }),
  );
}

export async function benchSweep(): Promise<Line[]> {
  const names = ['sweep_time_vs_bound', 'duplicate_cancels', 'due_lag_p50_ms', 'due_lag_p99_ms'];
  if (!javaAvailable()) return names.map((name) => ({ name, value: null, unit: '', target: '', why: 'DynamoDB Local needs Java' }));
  const [engine, servers] = await Promise.all([startDynamoDbLocal(), startServers({ kodexaCancelMs: 20 })]);
  const clock = new Clock(0);
  clock.now = Date.now;
  const lines: Line[] = [];
  try {
    // 0. Warm up DynamoDB Local's JVM (JIT) so the measured sweep is not its cold start.
    {
      const { rt, client } = await freshRuntime(engine, undefined, worldConfig(servers), servers, clock);
      await pool(
        Array.from({ length: 500 }, (_, i) => `warm-${i}`),
        64,
        async (id) => {
          servers.sims.catalyzed.add({ id });
          await rt.watchdog.track({ connection: 'catalyzed-c', externalId: id, policy: 'bulk', startedAt: Date.now() - 2 * HOUR }, actor);
        },
      );
      await rt.sweeper.run();
      client.destroy();
    }
    // 1. Sweep time against its bound.
    {
      const concurrency = 16;
      const config = worldConfig(servers, { settings: { providerConcurrency: concurrency } });
      const { rt, client } = await freshRuntime(engine, undefined, config, servers, clock);
      const n = 1000;
      const ids = Array.from({ length: n }, (_, i) => `bound-${i}`);
      await pool(ids, 64, async (id) => {
        servers.sims.catalyzed.add({ id });
        await rt.watchdog.track({ connection: 'catalyzed-c', externalId: id, policy: 'bulk', startedAt: Date.now() - 2 * HOUR }, actor);
      });
      servers.sims.catalyzed.faults = { latencyMs: 50 };
      const s = await rt.sweeper.run();
      servers.sims.catalyzed.faults = {};
      const boundMs = (n * 50) / concurrency;
      // The store's floor, same run, same engine: the sweep's own conditional writes (claim,
      // then outcome, one after the other per execution) for as many executions, as many in
      // flight as the sweep keeps (providerConcurrency × connections × 16), no provider at all.
      const floorIds = Array.from({ length: n }, (_, i) => `floor-${i}`);
      const floorExecs = await Promise.all(
        floorIds.map(
          async (id) =>
            (await rt.watchdog.track({ connection: 'catalyzed-c', externalId: id, policy: 'bulk', startedAt: Date.now() - 2 * HOUR }, actor)).execution,
        ),
      );
      const ctx = (e: Execution) => ({ now: Date.now(), policy: rt.watchdog.policyOf(e), retentionMs: config.settings.retentionMs });
      const f0 = Date.now();
      await pool(floorExecs, Math.min(1024, concurrency * 16), async (e) => {
        const claim = await rt.store.mutate(e.id, (c) => claimCancel(c, { holder: 'floor', leaseMs: 120_000, actor }, ctx(c)), e);
        if (!claim.ok) throw new Error(`floor claim: ${claim.outcome}`);
        await rt.store.mutate(e.id, (c) => recordOutcome(c, 'floor', { kind: 'cancelled' }, actor, ctx(c)), claim.execution);
      });
      const floorMs = Date.now() - f0;
      const over = Math.max(boundMs, floorMs);
      lines.push({
        name: 'sweep_time_vs_bound',
        value: Math.round((s.durationMs / over) * 100) / 100,
        unit: 'ratio',
        target: '<= 1.25',
        sweepMs: s.durationMs,
        boundMs,
        storeFloorMs: floorMs,
        vsProviderBoundOnly: Math.round((s.durationMs / boundMs) * 100) / 100,
        cancels: s.cancelled,
        providerCallsPerCancel: s.cancelCalls / Math.max(1, s.cancelled),
        note: 'sweep time ÷ max(provider bound: cancels × latency ÷ providerConcurrency, store floor: the same conditional writes at the same concurrency on the same engine)',
      });
      client.destroy();
    }
    // 2. Duplicate cancels under 4 concurrent sweeps.
    {
      const config = worldConfig(servers);
      const { rt, client, tableName } = await freshRuntime(engine, undefined, config, servers, clock);
      const n = 2000;
      const items = Array.from({ length: n }, (_, i) => ({ p: PLATFORMS[i % 5]!, id: `dup-${i}` }));
      await pool(items, 64, async (x) => {
        servers.sims[x.p].add({ id: x.id });
        await rt.watchdog.track({ connection: `${x.p}-c`, externalId: x.id, policy: 'bulk', startedAt: Date.now() - 2 * HOUR }, actor);
      });
      const sweepers: Runtime[] = [rt, ...['b', 'c', 'd'].map((o) => peer(rt, servers, client, tableName, clock, `bench-${o}`))];
      await Promise.all(sweepers.map((r) => r.sweeper.run()));
      let calls = 0;
      for (const x of items) calls += servers.sims[x.p].cancelCalls.get(x.id) ?? 0;
      const missed = items.filter((x) => !servers.sims[x.p].cancelCalls.get(x.id)).length;
      lines.push({ name: 'duplicate_cancels', value: calls - (n - missed), unit: 'calls', target: '0', runaways: n, sweeps: 4, notYetCancelled: missed });
      client.destroy();
    }
    // 3. Due lag: deadlines spread over 5 s, a sweep every second.
    {
      const config = worldConfig(servers);
      const { rt, client } = await freshRuntime(engine, undefined, config, servers, clock);
      const n = 500;
      const dueAt = new Map<string, number>();
      const lag: number[] = [];
      const base = Date.now() + 3_000;
      await pool(
        Array.from({ length: n }, (_, i) => i),
        64,
        async (i) => {
          const id = `lag-${i}`;
          const deadline = base + Math.floor((i / n) * 5_000);
          dueAt.set(id, deadline);
          servers.sims.superglue.add({ id });
          await rt.watchdog.track({ connection: 'superglue-c', externalId: id, policy: 'bulk', startedAt: deadline - HOUR }, actor);
        },
      );
      servers.sims.superglue.onCancel = (id) => {
        const d = dueAt.get(id);
        if (d !== undefined) lag.push(Date.now() - d);
      };
      const scheduleMs = 1_000;
      let maxSweepMs = 0;
      const end = base + 5_000 + 2 * scheduleMs;
      while (Date.now() < end) {
        const tick = Date.now();
        const s = await rt.sweeper.run();
        maxSweepMs = Math.max(maxSweepMs, s.durationMs);
        await new Promise((r) => setTimeout(r, Math.max(0, scheduleMs - (Date.now() - tick))));
      }
      servers.sims.superglue.onCancel = undefined;
      lag.sort((a, b) => a - b);
      const pct = (p: number) => lag[Math.min(lag.length - 1, Math.floor((p / 100) * lag.length))] ?? null;
      const target = `report; p99 <= schedule + sweep time (${scheduleMs} + ${maxSweepMs} ms)`;
      lines.push({ name: 'due_lag_p50_ms', value: pct(50), unit: 'ms', target, scheduleMs, cancels: lag.length });
      lines.push({
        name: 'due_lag_p99_ms',
        value: pct(99),
        unit: 'ms',
        target,
        scheduleMs,
        maxSweepMs,
        withinTarget: (pct(99) ?? Infinity) <= scheduleMs + maxSweepMs,
      });
      client.destroy();
    }
  } finally {
    await Promise.all([engine.close(), servers.close()]);
  }
  return lines;
}
