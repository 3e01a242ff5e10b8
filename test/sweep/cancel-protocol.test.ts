/**
 * The cancel protocol (src/app/cancel.ts) called directly, one outcome at a time: what a claim
 * attempt returns and reports (claimed, lost race, no longer claimable, deferred), the log
 * level of each outcome, the breach-to-cancel figure, a retry that reads the platform first, a
 * dead holder's claim recovered, a lease lost while the provider answered or before a re-send,
 * and connections with no adapter or no status call. dynalite, the simulators (Kodexa's cancel
 * stays CANCELLING), the Slack stand-in.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/app/context.js';
import { emptySummary, Tally } from '../../src/app/summary.js';
import { Sweeper } from '../../src/app/sweep.js';
import type { WatchdogConfig } from '../../src/config/load.js';
import type { Execution } from '../../src/core/model.js';
import { claimCancel } from '../../src/core/transitions.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import type { ExecutionStore } from '../../src/store/types.js';
import { HOUR, MIN, SEC } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, memorySecrets, startServers, worldConfig } from '../helpers/world.js';

let engine: Engine;
let servers: Servers;
let client: DynamoDBClient | undefined;
beforeAll(async () => {
  [engine, servers] = await Promise.all([startDynalite(), startServers({ kodexaCancelMs: 1e12 })]);
}, 60_000);
afterAll(async () => {
  client?.destroy();
  await Promise.all([engine?.close(), servers?.close()]);
});

function config(extra: Record<string, unknown> = {}): WatchdogConfig {
  return worldConfig(servers, {
    settings: { probeEvery: '0', confirmWithin: '2m', leaseDuration: '90s' },
    connections: {
      'wrong-c': { provider: 'catalyzed', baseUrl: servers.sims.catalyzed.url, secret: 'key-wrong' },
      // A platform of our own declaring a cancel call and no status call (the Catalyzed simulator's cancel).
      'bare-c': { provider: 'bare', baseUrl: servers.sims.catalyzed.url, secret: 'key-catalyzed' },
      ...extra,
    },
    providers: { bare: { type: 'http', auth: { header: 'Authorization', prefix: 'Bearer ' }, cancel: { path: '/pipeline-executions/{id}/cancel' } } },
  });
}

async function world(extra?: Record<string, unknown>) {
  const clock = new Clock(Date.now());
  const w = await freshRuntime(engine, client, config(extra), servers, clock);
  client = w.client;
  return { ...w, clock };
}

type Line = { level: 'info' | 'warn' | 'error'; message: string };

/** The protocol of a sweeper of its own (holder `sweep-p`), with its log and its summary in view. */
function protocol(rt: Runtime, clock: Clock, store: ExecutionStore = rt.store) {
  const logs: Line[] = [];
  const log = {
    info: (message: string) => void logs.push({ level: 'info', message }),
    warn: (message: string) => void logs.push({ level: 'warn', message }),
    error: (message: string) => void logs.push({ level: 'error', message }),
  };
  const sweeper = new Sweeper({ config: rt.config, store, providers: rt.providers, notifiers: rt.notifiers, now: clock.now, holder: 'sweep-p', log });
  const summary = emptySummary('sweep-p', clock.t, false);
  return { cancels: sweeper.cancels, tally: new Tally(summary), summary, logs };
}

let n = 0;
/** A run on `connection`'s platform, started `ago` before now (past the 1h limit by default). */
async function run(rt: Runtime, clock: Clock, connection = 'catalyzed-c', ago = 2 * HOUR): Promise<Execution> {
  const externalId = `cp-${++n}`;
  const platform = (
    connection === 'bare-c' || connection === 'wrong-c' || connection === 'gone-c' ? 'catalyzed' : connection.replace(/-c$/, '')
  ) as keyof Servers['sims'];
  servers.sims[platform].add({ id: externalId, startedAt: clock.t - ago });
  return (await rt.watchdog.track({ connection, externalId, startedAt: clock.t - ago }, { id: 't', via: 't' })).execution;
}

/** Overwrite fields of the stored item (a state the test wants to start from), version bumped. */
const set = async (rt: Runtime, id: string, fields: Partial<Execution>): Promise<Execution> => {
  const r = await rt.store.mutate(id, (c) => ({ ok: true, execution: { ...c, ...fields, version: c.version + 1 } }));
  if (!r.ok) throw new Error('set failed');
  return r.execution;
};

/** Claimed by a holder that is still alive (its lease runs) or died (`untilMs` from now). */
const claimedBy = async (rt: Runtime, clock: Clock, e: Execution, holder: string, untilMs = 90 * SEC): Promise<Execution> => {
  const ctx = contextFor(rt.config, clock.now);
  await rt.store.mutate(e.id, (c) => claimCancel(c, { holder, leaseMs: 90 * SEC, actor: { id: holder, via: 'sweep' } }, ctx(c)));
  return set(rt, e.id, { lease: { holder, until: clock.t + untilMs } });
};

/** A store whose `mutate` number `at` (1-based) is preceded by another holder taking the lease. */
function stealingStore(rt: Runtime, clock: Clock, at: number): ExecutionStore {
  let calls = 0;
  return new Proxy(rt.store, {
    get(target, key) {
      if (key === 'mutate') {
        return async (...args: Parameters<ExecutionStore['mutate']>) => {
          if (++calls === at) await set(rt, args[0], { lease: { holder: 'thief', until: clock.t + 90 * SEC } });
          return target.mutate(...args);
        };
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const posts = (externalId: string) => servers.slack.posts.filter((p) => JSON.stringify(p).includes(externalId));

describe('a claim attempt', () => {
  it('claimed: sent once, recorded, reported with what the platform said and logged as info; breach to cancel measured from the breach', async () => {
    const { rt, clock } = await world();
    const [a, b, c] = [await run(rt, clock), await run(rt, clock), await run(rt, clock)];
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(a, p.tally, { reasons: ['runtime'], breachAt: clock.t - 5_000 })).toBe('claimed');
    expect(await p.cancels.claimAndCancel(b, p.tally, { reasons: ['runtime'], breachAt: clock.t + 1_000 })).toBe('claimed'); // a clock behind: never negative
    expect(await p.cancels.claimAndCancel(c, p.tally, { reasons: ['runtime'] })).toBe('claimed'); // no breach time: not measured
    expect(p.summary.breachToCancelMs).toEqual([5_000, 0]);
    expect(p.summary).toMatchObject({ cancelled: 3, cancelCalls: 3, lostRaces: 0 });
    expect(p.summary.actions[0]).toEqual({ id: a.id, connection: 'catalyzed-c', externalId: a.externalId, action: 'cancelled', detail: 'cancelled' });
    expect(p.logs).toEqual([1, 2, 3].map(() => ({ level: 'info', message: 'cancel cancelled' })));
    expect(servers.sims.catalyzed.cancelCalls.get(a.externalId)).toBe(1);
    const got = await rt.store.getWithEvents(a.id);
    expect(got?.execution.state).toBe('cancelled');
    // Claimed and recorded in the policy's name (no person asked).
    expect(got?.events.filter((ev) => ev.actor.via === 'sweep').map((ev) => ev.actor.id)).toEqual(['policy:strict', 'policy:strict']);
  });

  it("lost race: another holder's claim is live — nothing sent, reported with why", async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock);
    await claimedBy(rt, clock, e, 'other');
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] })).toBe('lost_race');
    expect(p.summary.lostRaces).toBe(1);
    expect(p.summary.actions).toEqual([{ id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'lost_race', detail: 'lease_held' }]);
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBeUndefined();
    expect((await rt.store.get(e.id))?.lease?.holder).toBe('other');
  });

  it('no longer claimable (its limits are honoured on the current item): put back to its real due time; no call, no race', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock, 'catalyzed-c', 5 * MIN); // 5 minutes into a 1h limit
    const honest = e.dueAt;
    expect(honest).toBeGreaterThan(clock.t);
    const stale = await set(rt, e.id, { dueAt: clock.t }); // a due entry that says now
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(stale, p.tally, { reasons: ['runtime'] })).toBe('not_claimable');
    const after = await rt.store.get(e.id);
    expect(after).toMatchObject({ state: 'running', dueAt: honest, version: stale.version + 1 });
    expect(p.summary).toMatchObject({ lostRaces: 0, cancelCalls: 0 });
    expect(p.summary.actions).toEqual([]);
  });

  it('deferred: the time is up once a provider slot is free — nothing claimed (for a recovery too)', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock);
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'], timeUp: () => true })).toBe('deferred');
    expect(await rt.store.get(e.id)).toMatchObject({ state: 'running', version: e.version });
    const dead = await claimedBy(rt, clock, await run(rt, clock), 'dead', -1);
    expect(await p.cancels.recover(dead, p.tally, () => true)).toBe('deferred');
    expect(await rt.store.get(dead.id)).toMatchObject({ state: 'cancelling', lease: { holder: 'dead' } });
    expect(p.summary.actions).toEqual([]);
  });
});

describe('outcomes', () => {
  it('a 503 is retried later: no outcome notice, info; the retry asks the platform first (the first may have landed) and finds it finished — no second cancel', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock);
    const p = protocol(rt, clock);
    servers.sims.catalyzed.faults.errorRate = 1;
    try {
      expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] })).toBe('claimed');
    } finally {
      servers.sims.catalyzed.faults.errorRate = 0;
    }
    const retried = await rt.store.get(e.id);
    expect(retried).toMatchObject({ state: 'cancel_requested', attempts: 1 });
    expect(retried?.outbox ?? []).toEqual([]);
    expect(posts(e.externalId)).toEqual([]);
    expect(p.logs).toEqual([{ level: 'info', message: 'cancel retry' }]);
    expect(p.summary.actions[0]).toMatchObject({ action: 'retry', detail: expect.stringMatching(/503/) });
    const sent = servers.sims.catalyzed.cancelCalls.get(e.externalId) ?? 0;

    servers.sims.catalyzed.executions.get(e.externalId)!.state = 'succeeded';
    clock.t = retried!.nextAttemptAt!;
    const q = protocol(rt, clock);
    expect(await q.cancels.claimAndCancel(retried!, q.tally, { reasons: ['runtime'] })).toBe('claimed');
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId) ?? 0).toBe(sent);
    expect(q.summary).toMatchObject({ alreadyFinished: 1, observed: 1, cancelCalls: 0 });
    const got = await rt.store.getWithEvents(e.id);
    expect(got?.execution.state).toBe('finished');
    // The retry's claim is the policy's too (a policy cancel has no person behind it).
    expect(got?.events.filter((ev) => ev.actor.via === 'sweep').every((ev) => ev.actor.id === 'policy:strict')).toBe(true);
  });

  it("a person's request is claimed in their name", async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock, 'catalyzed-c', 10 * MIN);
    expect((await rt.watchdog.requestCancel(e.id, { id: 'slack:U1', via: 'slack' }, 'by hand')).ok).toBe(true);
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel((await rt.store.get(e.id))!, p.tally, { reasons: ['manual'] })).toBe('claimed');
    const got = await rt.store.getWithEvents(e.id);
    expect(got?.execution.state).toBe('cancelled');
    expect(got?.events.slice(-2).map((ev) => ev.actor.id)).toEqual(['slack:U1', 'slack:U1']);
  });

  it('failed (the platform refuses the key): an error, the reason in the action, the outcome posted', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock, 'wrong-c');
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] })).toBe('claimed');
    expect((await rt.store.get(e.id))?.state).toBe('cancel_failed');
    expect(p.logs).toEqual([{ level: 'error', message: 'cancel failed' }]);
    expect(p.summary.actions[0]).toMatchObject({ action: 'cancel_failed', detail: expect.stringMatching(/credentials/) });
    expect(posts(e.externalId).length).toBeGreaterThan(0);
  });

  it('unconfirmed (accepted, sent twice, still CANCELLING): an error, with how long ago', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock, 'kodexa-c');
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] })).toBe('claimed');
    expect(p.logs).toEqual([{ level: 'info', message: 'cancel cancel_pending' }]);
    expect(p.summary.actions[0]).toMatchObject({ action: 'cancel_pending', detail: 'CANCELLING' });
    const old = await set(rt, e.id, { cancelAcceptedAt: clock.t - 10 * MIN, cancelResentAt: clock.t - 5 * MIN, lease: { holder: 'sweep-p', until: clock.t } });
    const q = protocol(rt, clock);
    expect(await q.cancels.recover(old, q.tally)).toBe('claimed');
    expect((await rt.store.get(e.id))?.state).toBe('cancel_unconfirmed');
    expect(q.logs).toEqual([{ level: 'error', message: 'cancel unconfirmed' }]);
    expect(q.summary.actions[0]).toMatchObject({ action: 'cancel_unconfirmed', detail: 'accepted 600s ago and sent twice, still CANCELLING' });
  });
});

describe("a dead holder's claim, and a lease lost", () => {
  it("recovery: another holder's live lease is a lost race; an expired one is recovered", async () => {
    const { rt, clock } = await world();
    const live = await claimedBy(rt, clock, await run(rt, clock), 'other');
    const p = protocol(rt, clock);
    expect(await p.cancels.recover(live, p.tally)).toBe('lost_race');
    expect(p.summary.actions).toEqual([{ id: live.id, connection: 'catalyzed-c', externalId: live.externalId, action: 'lost_race', detail: 'lease_held' }]);
    const dead = await claimedBy(rt, clock, await run(rt, clock), 'dead', -1);
    expect(await p.cancels.recover(dead, p.tally)).toBe('claimed');
    expect((await rt.store.get(dead.id))?.state).toBe('cancelled');
  });

  it('the lease lost while the provider answered: the outcome is left to the new holder, reported and warned', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock);
    const p = protocol(rt, clock, stealingStore(rt, clock, 2)); // 1: the claim, 2: the outcome
    expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] })).toBe('claimed');
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBe(1);
    expect(await rt.store.get(e.id)).toMatchObject({ state: 'cancelling', lease: { holder: 'thief' } });
    expect(p.summary).toMatchObject({ cancelled: 0, lostRaces: 1 });
    expect(p.summary.actions).toEqual([
      { id: e.id, connection: 'catalyzed-c', externalId: e.externalId, action: 'lost_race', detail: 'outcome not recorded: lease_lost' },
    ]);
    expect(p.logs).toEqual([{ level: 'warn', message: 'cancel outcome not recorded (lease lost)' }]);
  });

  it('the lease lost before a re-send is marked: not sent', async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock, 'kodexa-c');
    const p = protocol(rt, clock);
    await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] });
    const due = await set(rt, e.id, { cancelAcceptedAt: clock.t - 3 * MIN, lease: { holder: 'sweep-p', until: clock.t } });
    const q = protocol(rt, clock, stealingStore(rt, clock, 2)); // 1: the recovery's claim, 2: the re-send's mark
    expect(await q.cancels.recover(due, q.tally)).toBe('claimed');
    expect(servers.sims.kodexa.cancelCalls.get(e.externalId)).toBe(1);
    expect(q.summary.actions).toEqual([
      { id: e.id, connection: 'kodexa-c', externalId: e.externalId, action: 'lost_race', detail: 're-send not recorded: lease_lost' },
    ]);
    expect((await rt.store.get(e.id))?.cancelResentAt).toBeUndefined();
  });
});

describe('connections without an adapter or without a status call', () => {
  it('a connection gone from the config: cancel_failed naming it, no call — a first claim and a recovery alike', async () => {
    const { rt, clock, tableName } = await world({ 'gone-c': { provider: 'catalyzed', baseUrl: servers.sims.catalyzed.url, secret: 'key-catalyzed' } });
    const first = await run(rt, clock, 'gone-c');
    const dead = await claimedBy(rt, clock, await run(rt, clock, 'gone-c'), 'dead', -1);
    // The same table under a config that no longer has the connection.
    const now = buildRuntime(config(), { client: client!, tableName, secrets: memorySecrets(servers), now: clock.now, holder: 'sweep-b' });
    const p = protocol(now, clock);
    expect(await p.cancels.claimAndCancel(first, p.tally, { reasons: ['runtime'] })).toBe('claimed');
    expect(await p.cancels.recover(dead, p.tally)).toBe('claimed');
    for (const e of [first, dead]) {
      const got = await rt.store.get(e.id);
      expect(got?.state).toBe('cancel_failed');
      expect(got?.lastError).toMatch(/gone-c/);
      expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBeUndefined();
    }
    expect(p.summary).toMatchObject({ cancelFailed: 2, cancelCalls: 0, observed: 0 });
  });

  it("no status call: the 2xx is the cancel done; a dead holder's claim is sent (nothing to ask first)", async () => {
    const { rt, clock } = await world();
    const e = await run(rt, clock, 'bare-c');
    const dead = await claimedBy(rt, clock, await run(rt, clock, 'bare-c'), 'dead', -1);
    const p = protocol(rt, clock);
    expect(await p.cancels.claimAndCancel(e, p.tally, { reasons: ['runtime'] })).toBe('claimed');
    expect(await p.cancels.recover(dead, p.tally)).toBe('claimed');
    for (const x of [e, dead]) {
      expect((await rt.store.get(x.id))?.state).toBe('cancelled');
      expect(servers.sims.catalyzed.cancelCalls.get(x.externalId)).toBe(1);
    }
    expect(p.summary).toMatchObject({ cancelled: 2, cancelCalls: 2, observed: 0 });
  });
});
