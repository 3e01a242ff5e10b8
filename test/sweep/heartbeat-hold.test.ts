/**
 * The watchdog's own outage is never read as the runs' death: lost-heartbeat cancels are held
 * (audited, counted, alerted once) when heartbeats stop arriving fleet-wide or the webhook
 * recorded that it could not take tracking requests; one silent run among healthy ones is
 * still cancelled; runtime limits are unaffected. On dynalite, with the simulators.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import type { Runtime } from '../../src/runtime.js';
import { MIN, T0 } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;

beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynalite(), startServers()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([engine?.close(), servers?.close()]);
});
beforeEach(() => {
  servers.sims.superglue.executions.clear();
  servers.sims.superglue.cancelCalls.clear();
  servers.slack.posts.length = 0;
});

const actor = { id: 'test', via: 'test' };
const policies = [
  { name: 'hb', heartbeatTimeout: '10m', notify: ['chat'] },
  { name: 'bulk', maxRuntime: '10h' },
  { name: 'hb-short', heartbeatTimeout: '10m', maxRuntime: '30m', notify: ['chat'] },
];

async function world() {
  const clock = new Clock(T0);
  const w = await freshRuntime(engine, undefined, worldConfig(servers, { policies }), servers, clock);
  return { ...w, clock };
}

async function tracked(rt: Runtime, clock: Clock, n: number, prefix: string, policy = 'hb'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const externalId = `${prefix}-${i}`;
    servers.sims.superglue.add({ id: externalId, state: 'running', startedAt: clock.t });
    const { execution } = await rt.watchdog.track({ connection: 'superglue-c', externalId, policy, startedAt: clock.t }, actor);
    ids.push(execution.id);
  }
  return ids;
}

const states = async (rt: Runtime, ids: string[]) => Promise.all(ids.map(async (id) => (await rt.store.get(id))!.state));

describe('lost heartbeats: the fleet rule', () => {
  it('one silent run among healthy ones is cancelled', async () => {
    const { rt, clock } = await world();
    const healthy = await tracked(rt, clock, 5, 'ok');
    const [silent] = await tracked(rt, clock, 1, 'quiet');
    for (let m = 0; m < 12; m++) {
      clock.advance(MIN);
      for (const id of healthy) await rt.watchdog.heartbeat(id, {});
      await rt.sweeper.run();
    }
    expect(await states(rt, [silent!])).toEqual(['cancelled']);
    expect(await states(rt, healthy)).toEqual(healthy.map(() => 'running'));
    expect(servers.sims.superglue.cancelCalls.get('quiet-0')).toBe(1);
  });

  it('a mass loss (every heartbeat-tracked run silent together) holds the lost-heartbeat cancels, alerts once, and cancels none; when heartbeats return, a run still silent is cancelled', async () => {
    const { rt, clock } = await world();
    const ids = await tracked(rt, clock, 4, 'mass');
    clock.advance(11 * MIN);
    const first = await rt.sweeper.run();
    expect(first.heartbeatHeld).toBe(4);
    expect(first.cancelCalls).toBe(0);
    clock.advance(3 * MIN);
    const second = await rt.sweeper.run();
    expect(second.heartbeatHeld).toBe(4);
    expect(servers.sims.superglue.cancelCalls.size).toBe(0);
    expect(await states(rt, ids)).toEqual(ids.map(() => 'running'));
    // Audited once per run (the first hold), alerted once across both sweeps.
    const { events } = (await rt.store.getWithEvents(ids[0]!))!;
    expect(events.filter((e) => e.what === 'lost-heartbeat cancel held')).toHaveLength(1);
    const alert = servers.slack.posts.map((p) => JSON.stringify(p)).filter((t) => /Heartbeats are not arriving/.test(t));
    expect(alert).toHaveLength(1);
    const why = "4 of 4 heartbeat-tracked runs lost their heartbeats together: the watchdog's ingestion may be at fault";
    expect(first.actions.filter((a) => a.action === 'heartbeat_held').map((a) => a.detail)).toEqual(ids.map(() => why));
    for (const words of [
      'Heartbeats are not arriving: 4 lost-heartbeat cancel(s) held',
      `${why}. The watchdog's ingestion may be at fault (the webhook's secrets, the store, throttling): check the WebhookServerErrors and WebhookThrottles alarms. Nothing is cancelled for a lost heartbeat until heartbeats arrive again; runtime, stall and cost limits still apply.`,
    ])
      expect(alert[0]).toContain(JSON.stringify(words).slice(1, -1));
    // Ingestion is back: three runs heartbeat again, one stays silent; it is cancelled at its hold's end.
    for (const id of ids.slice(0, 3)) await rt.watchdog.heartbeat(id, {});
    clock.advance(3 * MIN);
    await rt.sweeper.run();
    expect(await states(rt, ids)).toEqual(['running', 'running', 'running', 'cancelled']);
  });

  it('an ingest fault the webhook recorded within the heartbeat timeout holds even a lone silent run; its runtime limit still cancels it', async () => {
    const { rt, clock } = await world();
    const [lone] = await tracked(rt, clock, 1, 'lone', 'hb-short');
    const healthy = await tracked(rt, clock, 3, 'fine');
    clock.advance(5 * MIN);
    await rt.ledger.recordIngestFault(clock.t);
    for (let m = 0; m < 7; m++) {
      clock.advance(MIN);
      for (const id of healthy) await rt.watchdog.heartbeat(id, {});
    }
    const s = await rt.sweeper.run();
    expect(s.actions.find((a) => a.id === lone)).toMatchObject({
      action: 'heartbeat_held',
      detail: expect.stringMatching(/webhook could not take tracking requests/),
    });
    expect(await states(rt, [lone!])).toEqual(['running']);
    // 30 minutes: the runtime limit is no heartbeat question.
    clock.advance(19 * MIN);
    for (const id of healthy) await rt.watchdog.heartbeat(id, {});
    await rt.sweeper.run();
    expect(await states(rt, [lone!])).toEqual(['cancelled']);
  });

  it.each([
    // [silent, healthy, held?] — held when at least 3 (heartbeatHoldMinRuns) are silent and they are more than half
    [3, 2, true],
    [3, 3, false],
    [2, 0, false],
  ] as const)('%i silent with %i heartbeating: held %s', async (silentCount, healthyCount, held) => {
    const { rt, clock } = await world();
    const silent = await tracked(rt, clock, silentCount, `s${silentCount}-${healthyCount}`);
    const healthy = await tracked(rt, clock, healthyCount, `h${silentCount}-${healthyCount}`);
    // A run without a heartbeat limit is no part of the count.
    await rt.watchdog.track({ connection: 'superglue-c', externalId: `nohb-${silentCount}-${healthyCount}`, policy: 'bulk', startedAt: clock.t }, actor);
    for (let m = 0; m < 11; m++) {
      clock.advance(MIN);
      for (const id of healthy) await rt.watchdog.heartbeat(id, {});
    }
    const s = await rt.sweeper.run();
    expect(s.heartbeatHeld).toBe(held ? silentCount : 0);
    expect(await states(rt, silent)).toEqual(silent.map(() => (held ? 'running' : 'cancelled')));
    if (held) {
      expect(s.actions.find((a) => a.id === silent[0])?.detail).toBe(
        `${silentCount} of ${silentCount + healthyCount} heartbeat-tracked runs lost their heartbeats together: the watchdog's ingestion may be at fault`,
      );
      expect((await rt.store.get(silent[0]!))?.heartbeatHeldUntil).toBe(clock.t + 2 * MIN);
    }
  });

  it('an ingest fault exactly one heartbeat timeout ago still holds (with how long ago); once older, it does not', async () => {
    const { rt, clock } = await world();
    const [lone] = await tracked(rt, clock, 1, 'edge');
    const healthy = await tracked(rt, clock, 3, 'edge-ok');
    await rt.ledger.recordIngestFault(clock.t + MIN);
    for (let m = 0; m < 11; m++) {
      clock.advance(MIN);
      for (const id of healthy) await rt.watchdog.heartbeat(id, {});
    }
    // Now T0 + 11m: the fault (T0 + 1m) is exactly the 10m timeout ago.
    const s = await rt.sweeper.run();
    expect(s.actions.find((a) => a.id === lone)?.detail).toBe(
      'the webhook could not take tracking requests 600s ago (within the heartbeat timeout): heartbeats may not have reached the watchdog',
    );
    clock.advance(2 * MIN + 1); // the hold ends; the fault is now older than the timeout
    for (const id of healthy) await rt.watchdog.heartbeat(id, {});
    await rt.sweeper.run();
    expect(await states(rt, [lone!])).toEqual(['cancelled']);
  });
});
