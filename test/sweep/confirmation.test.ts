/**
 * The cancel protocol's timing, to the millisecond (dynalite, the Kodexa simulator whose cancel
 * stays CANCELLING until the test settles it): when an accepted cancel is checked again, when
 * it is sent once more, when it ends unconfirmed and what that says; and a claim whose holder
 * died, recovered status first — whatever the platform shows then.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../src/app/context.js';
import { claimCancel } from '../../src/core/transitions.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import type { Runtime } from '../../src/runtime.js';
import { HOUR, SEC } from '../helpers/fixtures.js';
import { Clock, type Servers, freshRuntime, startServers, worldConfig } from '../helpers/world.js';

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

let n = 0;
async function world() {
  const clock = new Clock(Date.now());
  // confirmWithin 2m: an accepted cancel is looked at every 24 s (a fifth), sent again after 2m.
  const config = worldConfig(servers, { settings: { probeEvery: '0', confirmWithin: '2m', leaseDuration: '90s' } });
  const w = await freshRuntime(engine, client, config, servers, clock);
  client = w.client;
  return { ...w, clock };
}

async function runaway(rt: Runtime, clock: Clock, platform: 'kodexa' | 'catalyzed' = 'kodexa') {
  const externalId = `conf-${++n}`;
  servers.sims[platform].add({ id: externalId, startedAt: clock.t - 2 * HOUR });
  return (await rt.watchdog.track({ connection: `${platform}-c`, externalId, startedAt: clock.t - 2 * HOUR }, { id: 't', via: 't' })).execution;
}

/** Bring the next check forward to `t` (a check the test wants at an exact moment). */
const dueNow = (rt: Runtime, id: string, t: number) =>
  rt.store.mutate(id, (c) => ({
    ok: true,
    execution: { ...c, nextAttemptAt: t, dueAt: t, ...(c.lease ? { lease: { ...c.lease, until: t } } : {}), version: c.version + 1 },
  }));

const settle = (externalId: string, state: 'cancelled' | 'succeeded') => {
  servers.sims.kodexa.executions.get(externalId)!.state = state;
};

describe('an accepted cancel (Kodexa CANCELLING)', () => {
  it('looked at every fifth of confirmWithin, sent once more at confirmWithin, then unconfirmed with how long ago and what it still says', async () => {
    const { rt, clock } = await world();
    const e = await runaway(rt, clock);
    const t0 = clock.t;
    expect((await rt.sweeper.run()).pending).toBe(1);
    expect(await rt.store.get(e.id)).toMatchObject({ state: 'cancelling', cancelAcceptedAt: t0, nextAttemptAt: t0 + 24 * SEC });
    // Not due a millisecond early.
    clock.advance(24 * SEC - 1);
    expect((await rt.sweeper.run()).due).toBe(0);
    clock.advance(1);
    const check = await rt.sweeper.run();
    expect(check).toMatchObject({ pending: 1, cancelCalls: 0 });
    expect((await rt.store.get(e.id))?.nextAttemptAt).toBe(t0 + 48 * SEC);
    // The last check before the window ends is due at the window's end, not later.
    clock.t = t0 + 110 * SEC;
    await rt.sweeper.run();
    expect((await rt.store.get(e.id))?.nextAttemptAt).toBe(t0 + 120 * SEC);
    clock.t = t0 + 120 * SEC - 1;
    await dueNow(rt, e.id, clock.t);
    expect(await rt.sweeper.run()).toMatchObject({ pending: 1, cancelCalls: 0 }); // still inside the window
    clock.t = t0 + 120 * SEC;
    expect(await rt.sweeper.run()).toMatchObject({ cancelCalls: 1 }); // sent once more
    expect(servers.sims.kodexa.cancelCalls.get(e.externalId)).toBe(2);
    const resent = await rt.store.get(e.id);
    expect(resent).toMatchObject({ state: 'cancelling', cancelResentAt: t0 + 120 * SEC });
    // Checked from the re-send on; unconfirmed a window after it.
    clock.t = t0 + 239 * SEC;
    await dueNow(rt, e.id, clock.t);
    expect(await rt.sweeper.run()).toMatchObject({ pending: 1, unconfirmed: 0 });
    clock.t = t0 + 240 * SEC;
    await dueNow(rt, e.id, clock.t);
    expect(await rt.sweeper.run()).toMatchObject({ unconfirmed: 1, cancelCalls: 0 });
    expect(await rt.store.get(e.id)).toMatchObject({
      state: 'cancel_unconfirmed',
      lastError: 'accepted 240s ago and sent twice, still CANCELLING',
    });
    expect(servers.sims.kodexa.cancelCalls.get(e.externalId)).toBe(2);
  });

  it('settled on the platform: cancelled is cancelled; finished first is finished', async () => {
    const { rt, clock } = await world();
    const a = await runaway(rt, clock);
    const b = await runaway(rt, clock);
    await rt.sweeper.run();
    settle(a.externalId, 'cancelled');
    settle(b.externalId, 'succeeded');
    clock.advance(24 * SEC);
    expect(await rt.sweeper.run()).toMatchObject({ cancelled: 1, alreadyFinished: 1, cancelCalls: 0 });
    expect((await rt.store.get(a.id))?.state).toBe('cancelled');
    expect((await rt.store.get(b.id))?.state).toBe('finished');
  });
});

describe('a claim whose holder died (its lease expired): recovered status first', () => {
  async function claimedAndDead(rt: Runtime, clock: Clock, platform: 'kodexa' | 'catalyzed' = 'kodexa') {
    const e = await runaway(rt, clock, platform);
    const ctx = contextFor(rt.config, clock.now);
    await rt.store.mutate(e.id, (c) => claimCancel(c, { holder: 'dead', leaseMs: 90 * SEC, actor: { id: 'dead', via: 'sweep' } }, ctx(c)));
    return e;
  }

  it('not before the lease ends', async () => {
    const { rt, clock } = await world();
    const e = await claimedAndDead(rt, clock);
    clock.advance(90 * SEC - 1);
    expect((await rt.sweeper.run()).due).toBe(0);
    expect((await rt.store.get(e.id))?.lease?.holder).toBe('dead');
  });

  it('its call had landed (the platform says CANCELLING): accepted after all, checked later, never sent again', async () => {
    const { rt, clock } = await world();
    const e = await claimedAndDead(rt, clock);
    const landed = rt.providers.forConnection('kodexa-c');
    if (!('cancel' in landed)) throw new Error('no adapter');
    await landed.cancel(e.externalId); // the dead holder's call, which landed
    clock.advance(90 * SEC);
    expect(await rt.sweeper.run()).toMatchObject({ pending: 1, cancelCalls: 0 });
    expect(await rt.store.get(e.id)).toMatchObject({ state: 'cancelling', lease: { holder: 'sweep-a' }, nextAttemptAt: clock.t + 24 * SEC });
    expect(servers.sims.kodexa.cancelCalls.get(e.externalId)).toBe(1);
  });

  it('its call never landed (still running): sent now, once', async () => {
    const { rt, clock } = await world();
    const e = await claimedAndDead(rt, clock, 'catalyzed');
    clock.advance(90 * SEC);
    expect(await rt.sweeper.run()).toMatchObject({ cancelled: 1, cancelCalls: 1, observed: 1 });
    expect(servers.sims.catalyzed.cancelCalls.get(e.externalId)).toBe(1);
    const { events } = (await rt.store.getWithEvents(e.id))!;
    expect(events.map((x) => x.what)).toEqual(expect.arrayContaining(['cancel claimed (expired lease recovered)', 'cancelled']));
  });

  it('its call never landed on a platform that cancels later: sent now and accepted — a first send, not a re-send', async () => {
    const { rt, clock } = await world();
    const e = await claimedAndDead(rt, clock, 'kodexa');
    clock.advance(90 * SEC);
    expect(await rt.sweeper.run()).toMatchObject({ pending: 1, cancelCalls: 1, observed: 1 });
    expect(servers.sims.kodexa.cancelCalls.get(e.externalId)).toBe(1);
    const after = await rt.store.get(e.id);
    expect(after).toMatchObject({ state: 'cancelling', cancelAcceptedAt: clock.t });
    expect(after?.cancelResentAt).toBeUndefined();
  });

  it('it ended meanwhile: cancelled, or finished — no call', async () => {
    const { rt, clock } = await world();
    const a = await claimedAndDead(rt, clock);
    const b = await claimedAndDead(rt, clock);
    settle(a.externalId, 'cancelled');
    settle(b.externalId, 'succeeded');
    clock.advance(90 * SEC);
    expect(await rt.sweeper.run()).toMatchObject({ cancelled: 1, alreadyFinished: 1, cancelCalls: 0 });
  });
});
