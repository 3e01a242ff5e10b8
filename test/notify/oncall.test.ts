/**
 * Incidents in PagerDuty and Opsgenie (their stand-ins follow the documented requests and
 * answers): a cancel that fails opens one incident per tool that resolves when the run is
 * seen stopped; an unhealthy connection opens one that resolves on recovery; two concurrent
 * sweeps open one; routing per event kind; deliveries retried like every notice.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type WatchdogConfig, compileConfig } from '../../src/config/load.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { OpsgenieNotifier, PagerDutyNotifier } from '../../src/notify/oncall.js';
import type { Message } from '../../src/notify/types.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import type { SecretSource } from '../../src/secrets.js';
import { type OncallStandIn, startOpsgenieStandIn, startPagerDutyStandIn } from '../../src/simulators/oncall.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { type SlackStandIn, startSlackStandIn } from '../../src/simulators/slack.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { HOUR, MIN, T0 } from '../helpers/fixtures.js';
import { Clock } from '../helpers/world.js';

const ROUTING_KEY = 'R0UTINGKEY0000000000000000000000';
const GENIE_KEY = 'genie-key-1';
let engine: Engine;
let client: DynamoDBClient;
let sim: Simulator;
let slack: SlackStandIn;
let pd: OncallStandIn;
let og: OncallStandIn;

beforeAll(async () => {
  [engine, sim, slack, pd, og] = await Promise.all([
    startDynalite(),
    startSimulator('catalyzed'),
    startSlackStandIn({ token: 'xoxb-t' }),
    startPagerDutyStandIn({ routingKey: ROUTING_KEY }),
    startOpsgenieStandIn({ apiKey: GENIE_KEY }),
  ]);
  client = dynamoClient({ endpoint: engine.endpoint });
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), sim?.close(), slack?.close(), pd?.close(), og?.close()]);
});
beforeEach(() => {
  for (const s of [pd, og]) {
    s.events.length = 0;
    s.alerts.length = 0;
    s.failNext = 0;
    s.throttleNext = 0;
  }
  slack.posts.length = 0;
  sim.executions.clear();
  sim.faults = {};
});

const secrets: SecretSource = {
  get: async (name) =>
    ({
      'sim-key': JSON.stringify({ apiKey: sim.apiKey }),
      slack: JSON.stringify({ botToken: 'xoxb-t' }),
      pd: JSON.stringify({ routingKey: ROUTING_KEY }),
      og: JSON.stringify({ apiKey: GENIE_KEY }),
    })[name] ?? Promise.reject(new Error(`no secret ${name}`)),
};

function config(over: { pagerOn?: string[]; settings?: Record<string, unknown> } = {}): WatchdogConfig {
  return compileConfig({
    settings: { maxCancelAttempts: 1, probeEvery: '0', repairEvery: '0', ...over.settings },
    connections: { cat: { provider: 'catalyzed', baseUrl: sim.url, secret: 'sim-key' } },
    notify: {
      chat: { type: 'slack', channel: '#oncall', tokenSecret: 'slack', apiUrl: slack.apiUrl },
      pager: { type: 'pagerduty', routingKeySecret: 'pd', apiUrl: pd.url, ...(over.pagerOn ? { on: over.pagerOn } : {}) },
      ops: { type: 'opsgenie', apiKeySecret: 'og', apiUrl: og.url },
    },
    policies: [{ name: 'p', maxRuntime: '1h', notify: ['chat', 'pager', 'ops'] }],
    defaultPolicy: 'p',
  });
}

async function world(cfg: WatchdogConfig = config()) {
  const clock = new Clock(T0);
  const tableName = `o${randomUUID().slice(0, 8)}`;
  await ensureTable(client, tableName);
  const mk = (holder: string): Runtime => buildRuntime(cfg, { client, tableName, secrets, now: clock.now, holder, http: { attempts: 1, timeoutMs: 1_000 } });
  return { clock, a: mk('sweep-a'), b: mk('sweep-b') };
}

async function runaway(rt: Runtime, clock: Clock, id: string) {
  sim.add({ id, state: 'running', startedAt: Date.now() });
  return (await rt.watchdog.track({ connection: 'cat', externalId: id, startedAt: clock.t - 2 * HOUR }, { id: 't', via: 't' })).execution;
}

describe('PagerDuty and Opsgenie incidents', () => {
  it('a cancel that fails opens one incident in each (two concurrent sweeps), and it resolves when the run is seen stopped', async () => {
    const { clock, a, b } = await world();
    const e = await runaway(a, clock, 'burner');
    sim.faults = { errorRate: 1 }; // every cancel answered 503: with maxCancelAttempts 1, cancel_failed at once
    await Promise.all([a.sweeper.run(), b.sweeper.run()]);
    expect((await a.store.get(e.id))?.state).toBe('cancel_failed');
    const key = `watchdog/${e.id}/stop`;
    for (const tool of [pd, og]) {
      expect(tool.events.filter((x) => x.action === 'trigger').map((x) => x.key)).toEqual([key]);
      expect(tool.open(key)?.triggers).toBe(1);
    }
    expect(pd.events[0]!.body).toMatchObject({
      routing_key: ROUTING_KEY,
      payload: { severity: 'critical', source: 'runaway-watchdog', class: 'cancel_failed', custom_details: { show: `npx watchdog show ${e.id}` } },
    });
    expect(og.events[0]!.body).toMatchObject({ alias: key, priority: 'P2', entity: e.id, details: { show: `npx watchdog show ${e.id}` } });

    // Still running five minutes later: looked at again, the incidents stay open.
    sim.faults = {};
    clock.advance(5 * MIN);
    const again = await a.sweeper.run();
    expect(again.observed).toBe(1);
    expect(pd.open(key)).toBeDefined();

    // A person stops it by hand: the next look sees it stopped, both incidents resolve, chat says so.
    sim.executions.get('burner')!.state = 'cancelled';
    clock.advance(5 * MIN);
    const [sa, sb] = await Promise.all([a.sweeper.run(), b.sweeper.run()]);
    expect(sa.stoppedAfterAlert + sb.stoppedAfterAlert).toBe(1);
    for (const tool of [pd, og]) {
      expect(tool.events.map((x) => x.action)).toEqual(['trigger', 'resolve']);
      expect(tool.alerts).toMatchObject([{ key, status: 'resolved', triggers: 1 }]);
    }
    const { execution, events } = await a.watchdog.show(e.id);
    expect(execution).toMatchObject({ state: 'cancel_failed', providerStatus: 'cancelled', stoppedAt: clock.t });
    expect(events.at(-1)).toMatchObject({ from: 'cancel_failed', to: 'cancel_failed', what: 'seen stopped on the platform after the failed cancel' });
    expect(slack.posts.map((p) => p.text)).toEqual([expect.stringContaining('Cancel FAILED'), expect.stringContaining('Stopped after all')]);
    // Nothing more to look at.
    clock.advance(10 * MIN);
    expect((await a.store.due(clock.t)).items).toHaveLength(0);
  });

  it('aftercare: looked at every 5 minutes (not before) with what the platform says, for 24 hours, then no more', async () => {
    const { clock, a } = await world();
    const e = await runaway(a, clock, 'lingers');
    sim.faults = { errorRate: 1 };
    await a.sweeper.run();
    sim.faults = {};
    const failed = (await a.store.get(e.id))!;
    expect(failed).toMatchObject({ state: 'cancel_failed', dueAt: failed.endedAt! + 5 * MIN });
    clock.advance(5 * MIN - 1);
    expect((await a.sweeper.run()).observed).toBe(0);
    clock.advance(1);
    const look = await a.sweeper.run();
    expect(look).toMatchObject({ observed: 1, stoppedAfterAlert: 0 });
    expect(await a.store.get(e.id)).toMatchObject({ checkedAt: clock.t, providerStatus: 'running', dueAt: clock.t + 5 * MIN });
    expect(pd.open(`watchdog/${e.id}/stop`)).toBeDefined();
    // A day on: the last look was the one before the day ended; nothing is due any more.
    clock.t = failed.endedAt! + 24 * 60 * MIN - 1;
    await a.store.mutate(e.id, (c) => ({ ok: true, execution: { ...c, checkedAt: clock.t - 5 * MIN, dueAt: clock.t, version: c.version + 1 } }));
    await a.sweeper.run();
    expect((await a.store.get(e.id))?.dueAt).toBeUndefined();
  });

  it('an unhealthy connection opens one incident (two concurrent sweeps) that resolves on recovery', async () => {
    const { clock, a, b } = await world(config({ settings: { maxCancelAttempts: 1, probeEvery: '5m', repairEvery: '0' } }));
    await Promise.all([a.sweeper.run(), b.sweeper.run()]); // healthy: nothing sent
    expect(pd.events).toHaveLength(0);
    sim.faults = { errorRate: 1 };
    clock.advance(5 * MIN);
    await Promise.all([a.sweeper.run(), b.sweeper.run()]);
    const key = 'watchdog/connection/cat';
    for (const tool of [pd, og]) expect(tool.events.map((x) => `${x.action} ${x.key}`)).toEqual([`trigger ${key}`]);
    clock.advance(5 * MIN);
    await Promise.all([a.sweeper.run(), b.sweeper.run()]); // still unhealthy: no change, nothing sent
    expect(pd.events).toHaveLength(1);
    sim.faults = {};
    clock.advance(5 * MIN);
    await Promise.all([a.sweeper.run(), b.sweeper.run()]);
    for (const tool of [pd, og]) {
      expect(tool.events.map((x) => x.action)).toEqual(['trigger', 'resolve']);
      expect(tool.alerts).toMatchObject([{ key, status: 'resolved' }]);
    }
  });

  it('routing per event kind: warnings go to chat only by default, to PagerDuty when its `on` lists them', async () => {
    const warnAt = { settings: { maxCancelAttempts: 1, probeEvery: '0', repairEvery: '0' } };
    const near = async (cfg: WatchdogConfig) => {
      const { clock, a } = await world(cfg);
      sim.add({ id: 'near', state: 'running', startedAt: Date.now() });
      await a.watchdog.track({ connection: 'cat', externalId: 'near', startedAt: clock.t - 50 * MIN }, { id: 't', via: 't' });
      return a.sweeper.run();
    };
    expect((await near(config(warnAt))).warned).toBe(1);
    expect(slack.posts.map((p) => p.text)).toEqual([expect.stringContaining('Runaway warning')]);
    expect(pd.events).toHaveLength(0);
    expect(og.events).toHaveLength(0);
    await near(config({ ...warnAt, pagerOn: ['warning', 'cancel_failed'] }));
    expect(pd.events).toMatchObject([{ action: 'trigger', body: { payload: { severity: 'warning', class: 'warning' } } }]);
    expect(og.events).toHaveLength(0); // its default: trouble only
  });

  it('a delivery that fails (500, 429) stays in the outbox and is sent again: one incident', async () => {
    const { clock, a } = await world();
    const e = await runaway(a, clock, 'flaky');
    sim.faults = { errorRate: 1 };
    pd.failNext = 1;
    og.throttleNext = 1;
    const first = await a.sweeper.run();
    expect(first.noticesFailed).toBe(2);
    sim.faults = {};
    clock.advance(MIN);
    await a.sweeper.run();
    const key = `watchdog/${e.id}/stop`;
    for (const tool of [pd, og]) expect(tool.alerts).toMatchObject([{ key, status: 'open', triggers: 1 }]);
  });
});

describe('the notifiers against the documented answers', () => {
  const m: Message = {
    kind: 'cancel_failed',
    incident: { key: 'k1', action: 'trigger' },
    severity: 'alert',
    title: 'T'.repeat(2000),
    text: 'x',
    fields: [],
    data: {},
  };
  it('PagerDuty: a wrong routing key is a 400 the notifier reports; the summary is cut to 1024', async () => {
    await expect(new PagerDutyNotifier('pager', pd.url, async () => 'wrong').send(m)).rejects.toThrow(/HTTP 400.*Invalid routing key/);
    await new PagerDutyNotifier('pager', pd.url, async () => ROUTING_KEY).send(m);
    expect(pd.alerts).toMatchObject([{ key: 'k1', summary: 'T'.repeat(1024) }]);
  });
  it('Opsgenie: a wrong key is a 401; the message is cut to 130; close by alias', async () => {
    await expect(new OpsgenieNotifier('ops', og.url, async () => 'wrong').send(m)).rejects.toThrow(/HTTP 401/);
    const n = new OpsgenieNotifier('ops', og.url, async () => GENIE_KEY);
    await n.send(m);
    await n.send({ ...m, incident: { key: 'k1', action: 'resolve' } });
    expect(og.alerts).toMatchObject([{ key: 'k1', summary: 'T'.repeat(130), status: 'resolved' }]);
  });
});
