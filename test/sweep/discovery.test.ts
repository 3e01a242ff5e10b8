/**
 * Discovery end to end on DynamoDB Local with the simulators: runs nobody tracked are found
 * through the platform's own list (its pagination), tracked exactly once however many sweeps
 * discover at once, enforced under the discovery policy, and a failing or hanging list never
 * holds back the enforcement of tracked runaways.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import type { Engine } from '../../src/local/engines.js';
import { startDynamoDbLocal } from '../../src/local/engines.js';
import { createAdapter } from '../../src/providers/adapter.js';
import { genericHttpSpec } from '../../src/providers/generic-http.js';
import type { Execution } from '../../src/core/model.js';
import { listRunning } from '../../src/app/discovery.js';
import { HOUR, MIN, T0 } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, peer, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
let client: DynamoDBClient | undefined;

beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynamoDbLocal(), startServers()]);
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});
beforeEach(() => {
  for (const s of Object.values(servers.sims)) {
    s.executions.clear();
    s.cancelCalls.clear();
    s.listCalls.count = 0;
    s.faults = {};
  }
  servers.slack.posts.length = 0;
});

const POLICIES = [
  { name: 'strict', maxRuntime: '1h', notify: ['chat'] },
  { name: 'bulk', maxRuntime: '1h' },
  // Discovered runs: a runtime limit, and a heartbeat timeout that must not apply to them (no tracker).
  { name: 'found', maxRuntime: '1h', heartbeatTimeout: '5m', notify: ['chat'] },
];

async function world(o: { discover?: Record<string, unknown>; settings?: Record<string, unknown> } = {}) {
  const clock = new Clock(T0);
  const config = worldConfig(servers, {
    policies: POLICIES,
    settings: { probeEvery: '0', repairEvery: '0', ...o.settings },
    connections: {
      'superglue-c': {
        provider: 'superglue',
        baseUrl: servers.sims.superglue.url,
        secret: 'key-superglue',
        discover: { policy: 'found', labels: { team: 'unknown' }, ...o.discover },
      },
      'catalyzed-c': { provider: 'catalyzed', baseUrl: servers.sims.catalyzed.url, secret: 'key-catalyzed', discover: { policy: 'found', ...o.discover } },
    },
  });
  const w = await freshRuntime(engine, client, config, servers, clock);
  client = w.client;
  return { ...w, clock, config };
}

async function allOf(rt: Awaited<ReturnType<typeof world>>['rt'], connection: string): Promise<Execution[]> {
  const out: Execution[] = [];
  let cursor: string | undefined;
  do {
    const page = await rt.store.list({ connection, limit: 500, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

describe('discovery', () => {
  it('1,000 running across pages, 10 already tracked: 990 discovered exactly once by 3 concurrent sweeps, one call per page', async () => {
    const { rt, client: c, tableName, clock } = await world();
    const sim = servers.sims.superglue;
    for (let i = 0; i < 1000; i++) sim.add({ id: `run-${String(i).padStart(4, '0')}`, startedAt: clock.t - 10 * MIN });
    // Finished runs are on the platform too: never discovered.
    for (let i = 0; i < 5; i++) sim.add({ id: `done-${i}`, state: 'succeeded', startedAt: clock.t - HOUR, endedAt: clock.t - MIN });
    for (let i = 0; i < 10; i++)
      await rt.watchdog.track(
        { connection: 'superglue-c', externalId: `run-${String(i * 7).padStart(4, '0')}`, policy: 'bulk' },
        { id: 'tracker', via: 'api' },
      );

    const sweeps = [rt, peer(rt, servers, c, tableName, clock, 'sweep-b'), peer(rt, servers, c, tableName, clock, 'sweep-c')];
    // Each sweep's own cadence claim lets one of them discover; the direct calls race the conditional writes themselves.
    const [summaries, direct] = await Promise.all([
      Promise.all(sweeps.map((w) => w.sweeper.run())),
      Promise.all(sweeps.map((w) => w.sweeper.discoverNow('superglue-c'))),
    ]);
    const discovered = summaries.reduce((n, s) => n + s.discovered, 0) + direct.reduce((n, d) => n + d.discovered, 0);
    expect(discovered).toBe(990);
    const listingsBySweeps = summaries.flatMap((s) => s.discoveries.filter((d) => d.connection === 'superglue-c'));
    expect(listingsBySweeps).toHaveLength(1); // the cadence is claimed once across sweeps

    const stored = await allOf(rt, 'superglue-c');
    expect(stored).toHaveLength(1000);
    const found = stored.filter((e) => e.source === 'discovered');
    expect(found).toHaveLength(990);
    expect(new Set(found.map((e) => e.externalId)).size).toBe(990);
    expect(found.every((e) => e.policy === 'found' && e.labels.team === 'unknown' && e.startedAt === clock.t - 10 * MIN)).toBe(true);
    expect(stored.filter((e) => e.source === undefined).every((e) => e.policy === 'bulk')).toBe(true);
    const sample = await rt.watchdog.show(found[0]!.id);
    expect(sample.events.map((e) => [e.what, e.actor.id])).toEqual([['tracked', 'discovery:superglue-c']]);

    // One provider call per page: 1,000 runs at 100 a page, 4 listings (1 sweep + 3 direct).
    for (const d of [...listingsBySweeps, ...direct]) expect(d).toMatchObject({ pages: 10, running: 1000, complete: true, untracked: 0 });
    expect(sim.listCalls.count).toBe(40);
    // A later run counts them as known: 10 by their trackers, 990 by discovery.
    const again = await rt.sweeper.discoverNow('superglue-c');
    expect(again).toMatchObject({ running: 1000, tracked: 10, byDiscovery: 990, discovered: 0, untracked: 0 });
    // Coverage from the last record (chat) and live (CLI) agree.
    const [recorded] = await rt.coverage({ live: false, connections: ['superglue-c'] });
    const [live] = await rt.coverage({ live: true, connections: ['superglue-c'] });
    expect(recorded).toMatchObject({ connection: 'superglue-c', running: 1000, byDiscovery: 990, tracked: 10, untrackedCount: 0, lastDiscoveryAt: clock.t });
    expect(live).toMatchObject({ running: 1000, byDiscovery: 990, tracked: 10, untrackedCount: 0, complete: true });
  }, 120_000);

  it('a discovered run is warned, then cancelled under its policy; its heartbeat timeout does not apply (no tracker)', async () => {
    const { rt, clock } = await world();
    const sim = servers.sims.superglue;
    sim.add({ id: 'by-hand', startedAt: clock.t - 50 * MIN });
    const first = await rt.sweeper.run();
    expect(first.discovered).toBe(1);
    const id = (await allOf(rt, 'superglue-c'))[0]!.id;

    clock.advance(MIN); // 51 min: past the 80% warning of its 1h limit, long past 5m without a heartbeat
    const second = await rt.sweeper.run();
    expect(second.actions.map((a) => [a.externalId, a.action])).toEqual([['by-hand', 'warned']]);
    expect(servers.slack.posts.some((p) => JSON.stringify(p).includes('by-hand'))).toBe(true);
    expect(sim.cancelCalls.get('by-hand')).toBeUndefined();

    clock.advance(10 * MIN); // 61 min
    const third = await rt.sweeper.run();
    expect(third.actions.map((a) => [a.externalId, a.action])).toEqual([['by-hand', 'cancelled']]);
    expect(sim.cancelCalls.get('by-hand')).toBe(1);
    const shown = await rt.watchdog.show(id);
    expect(shown.execution).toMatchObject({ state: 'cancelled', stopReasons: ['runtime'], source: 'discovered' });
  }, 60_000);

  it('a list that hangs or fails does not hold back 200 tracked runaways in the same sweep, and is no sweep error', async () => {
    for (const fault of ['hang', 'error'] as const) {
      // A hang ends with the time budget; a 503 (retried with backoff) gets the time to be a failed call.
      const { rt, clock } = await world({ settings: { discoveryBudget: fault === 'hang' ? '1s' : '30s' } });
      const sims = [servers.sims.kodexa, servers.sims.ionworks, servers.sims.meibel];
      const cancelledAt: number[] = [];
      let listAskedAt = Infinity;
      for (const s of sims) s.onCancel = () => cancelledAt.push(performance.now());
      servers.sims.catalyzed.faults = { listFault: fault };
      servers.sims.catalyzed.onRequest = (r) => {
        if (r.path.startsWith('/pipeline-executions?')) listAskedAt = Math.min(listAskedAt, performance.now());
      };
      servers.sims.catalyzed.add({ id: 'never-listed' });
      for (let i = 0; i < 200; i++) {
        const s = sims[i % 3]!;
        s.add({ id: `ra-${fault}-${i}`, startedAt: clock.t - 2 * HOUR });
        await rt.watchdog.track(
          { connection: `${s.platform}-c`, externalId: `ra-${fault}-${i}`, policy: 'bulk', startedAt: clock.t - 2 * HOUR },
          { id: 't', via: 'api' },
        );
      }
      const s = await rt.sweeper.run();
      for (const x of sims) x.onCancel = undefined;
      servers.sims.catalyzed.onRequest = undefined;
      expect(s.cancelled + s.pending).toBe(200);
      expect(s.errors).toBe(0);
      // Every cancel went out before discovery asked the platform for its list.
      expect(cancelledAt).toHaveLength(200);
      expect(Math.max(...cancelledAt)).toBeLessThan(listAskedAt);
      const report = s.discoveries.find((d) => d.connection === 'catalyzed-c');
      expect(report).toMatchObject({ complete: false, discovered: 0 });
      expect(report?.error).toMatch(fault === 'hang' ? /time budget/ : /list failed \(transient\)/);
      // The superglue connection's discovery went on regardless.
      expect(s.discoveries.find((d) => d.connection === 'superglue-c')).toMatchObject({ complete: true });
      for (const x of sims) x.executions.clear();
    }
  }, 120_000);

  it("starts only with its whole time budget left before the invocation's reserve (a Lambda never runs out of time mid-listing)", async () => {
    const { rt } = await world({ settings: { discoveryBudget: '15s' } });
    servers.sims.superglue.add({ id: 'late-run' });
    // 30 s reserve + 15 s budget: 40 s left is not enough; the cadence is not claimed either.
    const tight = await rt.sweeper.run({ remainingMs: () => 40_000 });
    expect(tight.discoveries).toEqual([]);
    expect(servers.sims.superglue.listCalls.count).toBe(0);
    const roomy = await rt.sweeper.run({ remainingMs: () => 50_000 });
    expect(roomy.discoveries.find((d) => d.connection === 'superglue-c')).toMatchObject({ discovered: 1 });
  });
});

describe('a generic provider declares its list', () => {
  /** A platform of our own making: cursor, next-link or page pagination over `runs`, some of them garbage. */
  async function platform(pages: unknown[][], style: 'cursor' | 'next' | 'page', nextOrigin?: string) {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      const u = new URL(req.url ?? '/', 'http://x');
      const i = style === 'page' ? Number(u.searchParams.get('p') ?? '1') - 1 : Number(u.searchParams.get('after') ?? '0');
      const items = pages[i] ?? [];
      const more = i + 1 < pages.length;
      const body =
        style === 'cursor'
          ? { result: { jobs: items }, meta: { next: more ? String(i + 1) : null } }
          : style === 'next'
            ? { result: { jobs: items }, links: { next: more ? `${nextOrigin ?? base}/api/jobs?state=running&after=${i + 1}` : null } }
            : { result: { jobs: items } };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const pagination =
      style === 'cursor'
        ? { type: 'cursor', param: 'after', pointer: '/meta/next' }
        : style === 'next'
          ? { type: 'next', pointer: '/links/next' }
          : { type: 'page', param: 'p' };
    const config = compileConfig({
      connections: { j: { provider: 'jobs', secret: 's', baseUrl: `${base}/api`, discover: {} } },
      providers: {
        jobs: {
          type: 'http',
          auth: { header: 'authorization', prefix: 'Bearer ' },
          cancel: { path: '/jobs/{id}/cancel' },
          list: {
            path: '/jobs?state=running',
            itemsPointer: '/result/jobs',
            idPointer: '/id',
            statusPointer: '/state',
            startedAtPointer: '/since',
            pagination,
          },
        },
      },
      policies: [{ name: 'default', maxRuntime: '1h' }],
    });
    const adapter = createAdapter(genericHttpSpec('jobs', config.providers.get('jobs')!), `${base}/api`, { apiKey: async () => 'k', refresh: async () => 'k' });
    return { adapter, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  const good = (id: string) => ({ id, state: 'running', since: '2026-11-24T10:00:00Z' });

  for (const style of ['cursor', 'next', 'page'] as const) {
    it(`${style} pagination: every page once; garbage items and other statuses are never runs`, async () => {
      const p = await platform(
        [
          [good('a'), good('b'), { id: 'c', state: 'done' }],
          [{ id: 42, state: 'running' }, { id: 'bad\nid', state: 'running' }, { state: 'running' }, 'junk', null, good('d')],
          [good('e'), good('a')],
        ],
        style,
      );
      const l = await listRunning(p.adapter, { maxPages: 10, deadline: Date.now() + 10_000, now: Date.now });
      await p.close();
      expect(l.runs.map((r) => r.externalId)).toEqual(['a', 'b', 'd', 'e']);
      expect(l.runs[0]?.startedAt).toBe(Date.parse('2026-11-24T10:00:00Z'));
      // A number, an id with a newline, no id: skipped. 'junk' and null have no running status: not runs at all.
      expect(l.skipped).toBe(3);
      expect(l.complete).toBe(true);
      // Page style ends on the first empty page; the others on a missing next.
      expect(p.seen).toHaveLength(style === 'page' ? 4 : 3);
    });
  }

  it('a next link to another host is not followed (it would carry the API key there)', async () => {
    const p = await platform([[good('a')], [good('b')]], 'next', 'http://127.0.0.2:9');
    const l = await listRunning(p.adapter, { maxPages: 10, deadline: Date.now() + 10_000, now: Date.now });
    await p.close();
    expect(l.runs.map((r) => r.externalId)).toEqual(['a']);
    expect(l).toMatchObject({ complete: false });
    expect(l.error).toMatch(/outside the connection's base URL/);
    expect(p.seen).toHaveLength(1);
  });

  it('a cursor that repeats, or more pages than the budget, ends the walk', async () => {
    const loop = await platform([[good('a')], [good('b')]], 'cursor');
    // Page 1 always points back to page 1: a provider looping forever.
    const looping = { ...loop.adapter, list: async (c: string | undefined) => ({ ...(await loop.adapter.list!(c)), next: '1' }) };
    const l = await listRunning(looping, { maxPages: 50, deadline: Date.now() + 10_000, now: Date.now });
    expect(l.error).toMatch(/repeated a page cursor/);
    expect(loop.seen.length).toBeLessThanOrEqual(3);
    const capped = await listRunning(loop.adapter, { maxPages: 1, deadline: Date.now() + 10_000, now: Date.now });
    await loop.close();
    expect(capped).toMatchObject({ complete: false, pages: 1 });
    expect(capped.error).toMatch(/discoveryMaxPages/);
  });
});
