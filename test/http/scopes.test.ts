/**
 * Scopes that hold, heartbeats that cannot roll back, replays that cannot outlive their
 * nonce, bodies too deep to walk: each through the webhook handler (the local server's and
 * the Lambda adapter's one handler), the tracking API also over real HTTP.
 */
import { sign as edSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchdogClient } from '../../src/client.js';
import { teamsSignature } from '../../src/http/verify.js';
import { Webhook } from '../../src/http/webhook.js';
import type { SecretSource } from '../../src/secrets.js';
import { TIMESTAMP_HEADER } from '../../src/security/signing.js';
import { TEAMS_TOKEN, type WebhookWorld, bearer, cmd, discordKeys, slackRequest, startWebhookWorld, v2Request } from '../helpers/webhook-world.js';

let w: WebhookWorld;
beforeAll(async () => {
  w = await startWebhookWorld({
    extraSecrets: { 'api-ml': JSON.stringify({ apiKey: 'ml-key' }), 'api-etl': JSON.stringify({ apiKey: 'etl-key' }) },
    config: (simUrl, hookBase) => ({
      connections: { sg: { provider: 'superglue', baseUrl: simUrl, secret: 'sg' } },
      webhook: {
        slack: { secret: 'slack' },
        hooks: { secret: 'hooks' },
        teams: { secret: 'teams' },
        discord: { secret: 'discord', apiUrl: `${hookBase}/discord` },
        api: {
          keys: [
            { name: 'ml', secret: 'api-ml', connections: ['sg'], labels: { team: 'ml' } },
            { name: 'etl', secret: 'api-etl', connections: ['*'], policies: ['etl'] },
          ],
        },
      },
      policies: [
        { name: 'default', maxRuntime: '4h', maxCostUsd: 50, maxExtension: '2h', allow: { users: ['UALLOWED'] } },
        { name: 'strict', maxRuntime: '1h', maxCostUsd: 20, maxExtension: '30m' },
        { name: 'etl', maxRuntime: '6h', mode: 'dry-run' },
      ],
    }),
  });
}, 60_000);
afterAll(async () => {
  await w?.close();
});

const body = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown>;
const track = (key: string, b: unknown) => w.webhook.handle(bearer('POST', '/v1/executions', JSON.stringify(b), key));

describe('a scoped key', () => {
  it('cannot read a run tracked outside its scope by tracking it again: 409 tracked_elsewhere, nothing about the run (in process and over HTTP)', async () => {
    w.sim.add({ id: 'rt-victim' });
    await w.rt.watchdog.track({ connection: 'sg', externalId: 'rt-victim', owner: 'alice' }, { id: 'test', via: 'test' });
    const { response } = await track('ml-key', { connection: 'sg', externalId: 'rt-victim', labels: { team: 'ml' } });
    expect(response.status).toBe(409);
    expect(body(response)).toEqual({ error: expect.stringMatching(/already tracked, outside this key's scope/), code: 'tracked_elsewhere' });
    expect(response.body).not.toMatch(/alice|running|default/);
    const overHttp = await fetch(`${w.served.url}/v1/executions`, {
      method: 'POST',
      headers: { authorization: 'Bearer ml-key', 'content-type': 'application/json' },
      body: JSON.stringify({ connection: 'sg', externalId: 'rt-victim', labels: { team: 'ml' } }),
    });
    expect(overHttp.status).toBe(409);
    // Its own run, tracked again, is returned as before.
    w.sim.add({ id: 'rt-own' });
    expect((await track('ml-key', { connection: 'sg', externalId: 'rt-own', labels: { team: 'ml' } })).response.status).toBe(201);
    const again = await track('ml-key', { connection: 'sg', externalId: 'rt-own', labels: { team: 'ml' } });
    expect(again.response.status).toBe(200);
    expect(body(again.response)).toMatchObject({ created: false, execution: { externalId: 'rt-own' } });
  });

  it('names only a policy its scope allows: the matched one or a stricter one; a listed one; never a looser one', async () => {
    const looser = await track('ml-key', { connection: 'sg', externalId: 'p-1', labels: { team: 'ml' }, policy: 'etl' });
    expect(looser.response.status).toBe(400);
    expect(body(looser.response).error).toMatch(/policy "etl" is looser than "default", the policy for this run \(maxRuntime, maxCostUsd, mode\)/);
    expect(await w.rt.store.get(w.rt.watchdog.resolveId('sg/p-1'))).toBeUndefined();
    expect((await track('ml-key', { connection: 'sg', externalId: 'p-2', labels: { team: 'ml' }, policy: 'strict' })).response.status).toBe(201);
    expect((await track('ml-key', { connection: 'sg', externalId: 'p-3', labels: { team: 'ml' }, policy: 'default' })).response.status).toBe(201);
    // A key that lists its policies names exactly those.
    expect((await track('etl-key', { connection: 'sg', externalId: 'p-4', policy: 'etl' })).response.status).toBe(201);
    const unlisted = await track('etl-key', { connection: 'sg', externalId: 'p-5', policy: 'strict' });
    expect(unlisted.response.status).toBe(400);
    expect(body(unlisted.response).error).toMatch(/not one this key may name; expected one of etl/);
    // The signed (full-scope) path names any policy, as before.
    expect(
      (await w.webhook.handle(v2Request('POST', '/v1/executions', JSON.stringify({ connection: 'sg', externalId: 'p-6', policy: 'etl' })))).response.status,
    ).toBe(201);
  });
});

describe('heartbeats cannot roll back', () => {
  it('a late copy of a signed heartbeat (inside its window) changes nothing: cost, progress and the last-heartbeat time stay', async () => {
    const id = await w.tracked();
    const t0 = Date.now() - 10_000;
    const hb = (cost: number, done: number, at: number) =>
      v2Request('POST', `/v1/executions/${id}/heartbeat`, JSON.stringify({ costUsd: cost, progress: { done, total: 100 } }), { now: at });
    const first = hb(1, 10, t0);
    expect((await w.webhook.handle(first)).response.status).toBe(200);
    expect((await w.webhook.handle(hb(45, 40, t0 + 2_000))).response.status).toBe(200);
    const after45 = (await w.rt.store.get(id))!;
    const copy = await w.webhook.handle(first);
    expect(copy.response.status).toBe(200); // acknowledged
    expect(body(copy.response).execution).toMatchObject({ costUsd: 45, progress: { done: 40 } });
    const now = (await w.rt.store.get(id))!;
    expect(now).toMatchObject({
      costUsd: 45,
      progress: { done: 40, total: 100 },
      lastHeartbeatAt: after45.lastHeartbeatAt,
      heartbeats: 2,
      version: after45.version,
    });
    expect(first.headers[TIMESTAMP_HEADER]).toBeDefined();
  });

  it("an honest client's late retry (its seq) changes nothing; without any order, cost never decreases and progress keeps its high-water mark", async () => {
    const id = await w.tracked();
    const send = (b: unknown) => w.webhook.handle(bearer('POST', `/v1/executions/${id}/heartbeat`, JSON.stringify(b), 'etl-key'));
    expect((await send({ seq: 1, costUsd: 1 })).response.status).toBe(200);
    expect((await send({ seq: 2, costUsd: 45 })).response.status).toBe(200);
    expect((await send({ seq: 1, costUsd: 1 })).response.status).toBe(200);
    expect((await w.rt.store.get(id))!.costUsd).toBe(45);
    // No seq: applied, but cost and progress cannot move back.
    await send({ seq: 3, progress: { done: 30, total: 100 } });
    await send({ costUsd: 2, progress: { done: 5, total: 100 } });
    expect(await w.rt.store.get(id)).toMatchObject({ costUsd: 45, progress: { done: 30 } });
    // WatchdogClient numbers its heartbeats: two in a row both apply.
    const client = new WatchdogClient({ baseUrl: w.served.url, apiKey: 'etl-key' });
    await client.heartbeat(id, { costUsd: 46 });
    expect((await client.heartbeat(id, { costUsd: 47 })).execution.costUsd).toBe(47);
  });
});

describe('replays cannot outlive their nonce', () => {
  it('a request dated 295 s ahead is refused; one dated 50 s ahead is accepted once, and its copy 303 s later is still a replay', async () => {
    const id = await w.tracked();
    const secrets = (w.webhook as unknown as { deps: { secrets: SecretSource } }).deps.secrets;
    let clock = Date.now();
    const hook = new Webhook({ runtime: w.rt, secrets, now: () => clock });
    const ahead = await hook.handle(slackRequest(cmd(`extend ${id} 10m`, 'UALLOWED', { trigger_id: 'far-ahead' }), { ts: Math.floor(clock / 1000) + 295 }));
    expect(ahead.response.status).toBe(401);
    const req = slackRequest(cmd(`extend ${id} 10m`, 'UALLOWED', { trigger_id: 'near-ahead' }), { ts: Math.floor(clock / 1000) + 50 });
    expect(body((await hook.handle(req)).response).text).toMatch(/Extended/);
    clock += 303_000;
    expect(body((await hook.handle(req)).response).text).toMatch(/already handled/);
    expect((await w.rt.store.get(id))!.extensions).toHaveLength(1);
  });
});

describe('bodies nested too deep to walk', () => {
  it('30,000 levels → 400 on track, heartbeat, hooks, Discord and Teams (never 500)', async () => {
    const id = await w.tracked();
    // Within the 64 KB body limit: two bytes a level.
    const deepArray = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    const discordTs = String(Math.floor(Date.now() / 1000));
    const discordBody = `{"type":2,"x":${deepArray}}`;
    const requests = [
      v2Request('POST', '/v1/executions', deepArray),
      v2Request('POST', `/v1/executions/${id}/heartbeat`, deepArray),
      v2Request('POST', '/hooks/cancel', deepArray),
      {
        method: 'POST',
        path: '/discord/interactions',
        query: new URLSearchParams(),
        body: discordBody,
        headers: {
          'x-signature-timestamp': discordTs,
          'x-signature-ed25519': edSign(null, Buffer.from(discordTs + discordBody), discordKeys.privateKey).toString('hex'),
        },
      },
      {
        method: 'POST',
        path: '/teams/messages',
        query: new URLSearchParams(),
        body: discordBody,
        headers: { authorization: teamsSignature(TEAMS_TOKEN, discordBody) },
      },
    ];
    for (const r of requests) {
      const { response } = await w.webhook.handle(r);
      expect(`${r.path}: ${response.status}`).toBe(`${r.path}: 400`);
    }
  });
});

describe('a breach reported by heartbeat acts at once', () => {
  it('a heartbeat whose cost passes the limit is cancelled without waiting for a sweep; a sweep after it finds nothing to cancel', async () => {
    const id = await w.tracked('reported-spend');
    const { response, background } = await w.webhook.handle(
      bearer('POST', `/v1/executions/${id}/heartbeat`, JSON.stringify({ seq: 1, costUsd: 60 }), 'etl-key'),
    );
    expect(response.status).toBe(200);
    expect(background).toBeDefined();
    await background;
    expect(w.sim.cancelCalls.get('reported-spend')).toBe(1);
    expect(await w.rt.store.get(id)).toMatchObject({ state: 'cancelled', stopReasons: ['cost'] });
    const s = await w.rt.sweeper.run();
    expect(s.cancelCalls).toBe(0);
    expect(w.sim.cancelCalls.get('reported-spend')).toBe(1);
    // Under the limit: nothing handed on.
    const calm = await w.tracked('calm-spend');
    expect(
      (await w.webhook.handle(bearer('POST', `/v1/executions/${calm}/heartbeat`, JSON.stringify({ seq: 1, costUsd: 5 }), 'etl-key'))).background,
    ).toBeUndefined();
  });
});
