/**
 * The webhook: every route's signature, the chat commands end to end against a provider
 * simulator, the tracking API with WatchdogClient, and a fuzz run. dynalite underneath.
 */
import { generateKeyPairSync, randomBytes, sign as edSign } from 'node:crypto';
import { TEST_SEED, seeded } from '../helpers/random.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExecutionEndedError, WatchdogApiError, WatchdogClient } from '../../src/client.js';
import type { Served } from '../../src/http/server.js';
import type { HttpRequest } from '../../src/http/types.js';
import { slackSignature, teamsSignature } from '../../src/http/verify.js';
import type { Webhook } from '../../src/http/webhook.js';
import { discordEscape, teamsEscape } from '../../src/notify/markup.js';
import type { Runtime } from '../../src/runtime.js';
import { signedHeaders } from '../../src/security/signing.js';
import type { Simulator } from '../../src/simulators/server.js';
import type { SlackStandIn } from '../../src/simulators/slack.js';
import {
  API_KEY,
  HOOK_SECRET,
  SLACK_SECRET,
  TEAMS_TOKEN,
  type WebhookWorld,
  cmd,
  discordKeys,
  startWebhookWorld,
  v2Request,
} from '../helpers/webhook-world.js';

let world: WebhookWorld;
let sim: Simulator;
let slack: SlackStandIn;
let rt: Runtime;
let webhook: Webhook;
/** The same handler on real HTTP (what `watchdog serve` runs). */
let served: Served;
let n = 0;

beforeAll(async () => {
  world = await startWebhookWorld();
  ({ sim, slack, rt, webhook, served } = world);
});
afterAll(async () => {
  await world?.close();
});
beforeEach(() => {
  sim.faults = {};
  slack.responses.length = 0;
});

async function tracked(): Promise<string> {
  return world.tracked(`run-${++n}`);
}

function slackRequest(fields: Record<string, string>, o: { ts?: number; secret?: string; tamper?: boolean; path?: string } = {}): HttpRequest {
  const body = new URLSearchParams(fields).toString();
  const ts = String(o.ts ?? Math.floor(Date.now() / 1000));
  return {
    method: 'POST',
    path: o.path ?? '/slack/commands',
    query: new URLSearchParams(),
    body: o.tamper ? body.replace('cancel', 'extend') : body,
    headers: {
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(o.secret ?? SLACK_SECRET, ts, body),
      'content-type': 'application/x-www-form-urlencoded',
    },
  };
}

const v1Request = v2Request;

describe('Slack', () => {
  it('a signed /watchdog cancel against the served webhook cancels on the provider; the outcome reaches response_url', async () => {
    const id = await tracked();
    sim.faults = { latencyMs: 900 }; // slower than the ack budget: the outcome comes later
    const req = slackRequest(cmd(`cancel ${id} burning money`, 'UALLOWED', { response_url: `${slack.responseBase}/T1/abc` }));
    const t0 = Date.now();
    const res = await fetch(`${served.url}/slack/commands`, { method: 'POST', headers: req.headers as Record<string, string>, body: req.body });
    const ackMs = Date.now() - t0;
    expect(res.status).toBe(200);
    const ack = (await res.json()) as { text: string };
    expect(ack.text).toContain('requested by <@UALLOWED>'); // a mention in Slack; the audit keeps slack:UALLOWED
    expect(ackMs).toBeLessThan(3000);
    await Promise.allSettled([...served.pending]);
    expect(slack.responses).toHaveLength(1);
    expect((slack.responses[0]!.body as { text: string }).text).toContain(`Cancelled ${id}`);
    expect(sim.cancelCalls.get(`run-${n}`)).toBe(1);
    const shown = await rt.watchdog.show(id);
    expect(shown.execution.state).toBe('cancelled');
    expect(shown.events.find((e) => e.what === 'cancel requested')).toMatchObject({ actor: { id: 'slack:UALLOWED', via: 'slack' }, detail: 'burning money' });
    // The person decided, not a policy: the claim is in their name too.
    expect(shown.events.find((e) => e.what === 'cancel claimed')).toMatchObject({ actor: { id: 'slack:UALLOWED', via: 'slack' }, why: 'manual' });
    expect(shown.events.map((e) => e.actor.id)).not.toContain('policy:default');
  });

  it('a fast provider: the ack itself carries the outcome', async () => {
    const id = await tracked();
    const res = await webhook.handle(slackRequest(cmd(`cancel ${id}`)));
    expect(JSON.parse(res.response.body)).toMatchObject({ response_type: 'in_channel', text: expect.stringContaining(`Cancelled ${id}`) });
  });

  it('status, extend and list answer in chat and audit the actor', async () => {
    const id = await tracked();
    const ext = await webhook.handle(slackRequest(cmd(`extend ${id} 30m deploy running late`)));
    expect(JSON.parse(ext.response.body).text).toContain('Extended');
    const st = await webhook.handle(slackRequest(cmd(`status ${id}`)));
    const text = JSON.parse(st.response.body).text as string;
    expect(text).toContain('extended by 30m — <@UALLOWED>');
    const list = await webhook.handle(slackRequest(cmd('list sg')));
    expect(JSON.parse(list.response.body).text).toContain(id);
  });

  it('buttons: acknowledged empty; the warning is replaced in place through response_url (who, new deadline, buttons that still make sense); a refusal is a private note', async () => {
    const id = await tracked();
    const payload = (value: unknown, user = 'UOTHER') => ({
      payload: JSON.stringify({
        type: 'block_actions',
        user: { id: user },
        channel: { id: 'CALLOWED' },
        response_url: `${slack.responseBase}/T1/btn`,
        actions: [{ value: JSON.stringify(value) }],
      }),
    });
    const press = async (value: unknown, user?: string) => {
      slack.responses.length = 0;
      const res = await webhook.handle(slackRequest(payload(value, user), { path: '/slack/interactions' }));
      expect(res.response).toEqual({ status: 200, headers: {}, body: '' });
      await res.background;
      return slack.responses.map(
        (r) =>
          r.body as {
            replace_original?: boolean;
            response_type?: string;
            text: string;
            blocks?: Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: unknown[] }>;
          },
      );
    };
    const [ext] = await press({ a: 'extend', id, d: '30m' }); // allowed through the channel
    expect(ext).toMatchObject({ replace_original: true, text: expect.stringContaining('Extended') });
    expect(ext!.blocks![0]!.text!.text).toContain('by <@UOTHER>');
    expect(JSON.stringify(ext!.blocks![1]!.fields)).toMatch(/Runtime\*\\n\S+ of 4h30m/);
    expect(ext!.blocks!.find((b) => b.type === 'actions')?.elements).toHaveLength(3);
    const [refused] = await press({ a: 'extend', id, d: '2h' }); // past maxExtension
    expect(refused).toMatchObject({ response_type: 'ephemeral', replace_original: false, text: expect.stringMatching(/maxExtension/) });
    const [can] = await press({ a: 'cancel', id });
    expect(can).toMatchObject({ replace_original: true, text: expect.stringContaining('Cancelled') });
    expect(can!.blocks!.find((b) => b.type === 'actions')).toBeUndefined(); // nothing left to press
  });

  const refusals: Array<[string, () => Promise<HttpRequest>, number, RegExp]> = [
    ['missing signature', async () => ({ ...slackRequest(cmd('cancel X')), headers: {} }), 401, /invalid signature/],
    ['wrong secret', async () => slackRequest(cmd('cancel X'), { secret: 'nope' }), 401, /invalid signature/],
    [
      'stale timestamp (replay outside the window)',
      async () => slackRequest(cmd('cancel X'), { ts: Math.floor(Date.now() / 1000) - 301 }),
      401,
      /invalid signature/,
    ],
    ['tampered body', async () => slackRequest(cmd('cancel X'), { tamper: true }), 401, /invalid signature/],
    ['oversized body', async () => slackRequest(cmd(`cancel X ${'a'.repeat(9000)}`)), 413, /too large/],
    ['malformed form', async () => slackRequest({ garbage: '%%%' }), 200, /Malformed/],
    ['unknown command', async () => slackRequest(cmd('explode everything')), 200, /unknown command/],
    ['unknown execution', async () => slackRequest(cmd('cancel wd_zzzzzzzzzzzz')), 200, /No tracked execution/],
    ['unauthorised user (reads as not tracked: no existence leak)', async () => slackRequest(cmd('cancel X', 'UEVIL')), 200, /No tracked execution/],
  ];
  it.each(refusals)('%s → no state change, no provider call', async (_name, make, status, body) => {
    const id = await tracked();
    const before = await rt.store.get(id);
    const req = await make();
    const signed = { ...req };
    if (req.body.includes('cancel+X')) {
      // Point the command at the real execution while keeping the case's signature property.
      const fixed = req.body.replace('cancel+X', `cancel+${id}`);
      const ts = req.headers['x-slack-request-timestamp'] ?? '';
      const valid = req.headers['x-slack-signature'] === slackSignature(SLACK_SECRET, ts, req.body);
      signed.body = fixed;
      if (valid) signed.headers = { ...req.headers, 'x-slack-signature': slackSignature(SLACK_SECRET, ts, fixed) };
    }
    const res = await webhook.handle(signed);
    expect(res.response.status).toBe(status);
    expect(res.response.body).toMatch(body);
    expect(res.response.body).not.toMatch(/stack|Error:|at \//);
    expect((await rt.store.get(id))!.version).toBe(before!.version);
    expect(sim.cancelCalls.get(before!.externalId)).toBeUndefined();
  });

  it('extensions are capped by the policy maxExtension', async () => {
    const id = await tracked();
    const res = await webhook.handle(slackRequest(cmd(`extend ${id} 3h`)));
    expect(JSON.parse(res.response.body).text).toMatch(/would exceed maxExtension 2h/);
    expect((await rt.store.get(id))!.extensions).toHaveLength(0);
  });
});

describe('Discord, Teams, hooks', () => {
  const discordReq = (body: string, o: { key?: typeof discordKeys.privateKey; ts?: number } = {}): HttpRequest => {
    const ts = String(o.ts ?? Math.floor(Date.now() / 1000));
    const sig = edSign(null, Buffer.from(ts + body), o.key ?? discordKeys.privateKey).toString('hex');
    return {
      method: 'POST',
      path: '/discord/interactions',
      query: new URLSearchParams(),
      body,
      headers: { 'x-signature-ed25519': sig, 'x-signature-timestamp': ts },
    };
  };

  it('Discord: PING → PONG; a bad signature is 401; a slash command cancels', async () => {
    expect(JSON.parse((await webhook.handle(discordReq('{"type":1}'))).response.body)).toEqual({ type: 1 });
    const other = generateKeyPairSync('ed25519').privateKey;
    expect((await webhook.handle(discordReq('{"type":1}', { key: other }))).response.status).toBe(401);
    const id = await tracked();
    const body = JSON.stringify({
      type: 2,
      member: { user: { id: 'UALLOWED' } },
      channel_id: 'C1',
      data: { name: 'watchdog', options: [{ name: 'cancel', options: [{ name: 'id', value: id }] }] },
    });
    const res = await webhook.handle(discordReq(body));
    expect(JSON.parse(res.response.body)).toMatchObject({ type: 4, data: { content: expect.stringContaining('Cancelled') } });
  });

  it('Discord: when the provider is slow, the outcome follows on the interaction webhook', async () => {
    const id = await tracked();
    sim.faults = { latencyMs: 900 };
    const body = JSON.stringify({
      type: 2,
      application_id: '123456',
      token: 'tok-abc',
      member: { user: { id: 'UALLOWED' } },
      data: { name: 'watchdog', options: [{ name: 'cancel', options: [{ name: 'id', value: id }] }] },
    });
    const res = await webhook.handle(discordReq(body));
    expect(JSON.parse(res.response.body).data.content).toContain('requested');
    await res.background;
    const followUp = slack.hooks.find((h) => h.path === '/hook/discord/webhooks/123456/tok-abc');
    expect((followUp?.body as { content?: string } | undefined)?.content).toContain(`Cancelled ${discordEscape(id)}`);
  });

  it('Teams: HMAC verified; the mention is stripped; a wrong HMAC is 401', async () => {
    const id = await tracked();
    const body = JSON.stringify({
      type: 'message',
      id: `act-${n}`,
      timestamp: new Date().toISOString(),
      text: `<at>Watchdog</at> status ${id}`,
      from: { id: 'x', aadObjectId: 'UALLOWED' },
    });
    const res = await webhook.handle({
      method: 'POST',
      path: '/teams/messages',
      query: new URLSearchParams(),
      body,
      headers: { authorization: teamsSignature(TEAMS_TOKEN, body) },
    });
    expect(JSON.parse(res.response.body)).toMatchObject({ type: 'message', text: expect.stringContaining(teamsEscape(id)) });
    const bad = await webhook.handle({
      method: 'POST',
      path: '/teams/messages',
      query: new URLSearchParams(),
      body,
      headers: { authorization: teamsSignature(randomBytes(32).toString('base64'), body) },
    });
    expect(bad.response.status).toBe(401);
  });

  it('/hooks/cancel: signed v1 cancels; a replay outside the window is refused', async () => {
    const id = await tracked();
    const body = JSON.stringify({ id, reason: 'pagerduty incident', actor: 'pagerduty' });
    expect((await webhook.handle(v1Request('POST', '/hooks/cancel', body, { now: Date.now() - 6 * 60_000 }))).response.status).toBe(401);
    const res = await webhook.handle(v1Request('POST', '/hooks/cancel', body));
    expect(res.response.status).toBe(202);
    expect(JSON.parse(res.response.body)).toMatchObject({ ok: true, state: 'cancelled' });
    const shown = await rt.watchdog.show(id);
    expect(shown.events.find((e) => e.what === 'cancel requested')?.actor).toEqual({ id: 'hook:pagerduty', via: 'hook' });
  });
});

describe('tracking API', () => {
  it('WatchdogClient: track (idempotent), heartbeat, get, finish — signed and with a bearer key', async () => {
    const signed = new WatchdogClient({ baseUrl: served.url, signingSecret: HOOK_SECRET });
    const bearer = new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY });
    const first = await signed.track({ connection: 'sg', externalId: 'api/run 1', labels: { team: 'ml' } });
    expect(first.created).toBe(true);
    expect((await bearer.track({ connection: 'sg', externalId: 'api/run 1' })).created).toBe(false);
    const hb = await bearer.heartbeat('sg/api/run 1', { progress: { done: 3, total: 10 }, costUsd: 1.5 });
    expect(hb.execution.costUsd).toBe(1.5);
    const got = await signed.get(first.execution.id);
    expect(got.events.map((e) => e.what)).toEqual(['tracked']);
    expect(got.execution).toMatchObject({ heartbeats: 1, progress: { done: 3, total: 10 } });
    expect(got.execution).not.toHaveProperty('outbox');
    expect((await signed.finish(first.execution.id, 'succeeded')).execution.state).toBe('finished');
  });

  it('a tracker learns on its next heartbeat that it was cancelled, by whom and why (409 execution_ended)', async () => {
    const wd = new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY });
    sim.add({ id: 'told-of-cancel' }); // running on the platform
    const { execution } = await wd.track({ connection: 'sg', externalId: 'told-of-cancel' });
    await wd.heartbeat(execution.id, { progress: { done: 1, total: 4 } });
    expect(await wd.stopped(execution.id)).toBeUndefined();
    // A person cancels it from Slack.
    const res = await webhook.handle(slackRequest(cmd(`cancel ${execution.id} eating the GPU budget`, 'UALLOWED')));
    expect(res.response.status).toBe(200);
    await res.background;
    const err = await wd.heartbeat(execution.id, { progress: { done: 2, total: 4 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionEndedError);
    expect(err).toMatchObject({ status: 409, code: 'execution_ended' });
    const stopped = (err as ExecutionEndedError).stopped;
    expect({ ...stopped, execution: undefined }).toEqual({
      state: 'cancelled',
      cancelled: true,
      by: { id: 'slack:UALLOWED', via: 'slack' },
      reasons: ['manual'],
      at: stopped.execution.endedAt,
      execution: undefined,
    });
    expect((err as Error).message).toBe(`heartbeat refused: execution ${execution.id} is already cancelled (by slack:UALLOWED: manual)`);
    // The outcome is audited as the person's cancel, not as the process that carried it out.
    const events = (await wd.get(execution.id)).events;
    expect(events.filter((e) => e.to === 'cancelled').map((e) => e.actor)).toEqual([{ id: 'slack:UALLOWED', via: 'slack' }]);
    // Without a heartbeat: poll, or await.
    expect((await wd.stopped(execution.id))?.by?.id).toBe('slack:UALLOWED');
    expect((await wd.untilStopped(execution.id, { everyMs: 10 })).state).toBe('cancelled');
  });

  it('a policy cancel reads as the policy and its limit; untilStopped waits for it, and stops waiting on abort', async () => {
    const wd = new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY });
    sim.add({ id: 'policy-cancelled' });
    const { execution } = await wd.track({ connection: 'sg', externalId: 'policy-cancelled', startedAt: Date.now() - 60_000, limits: { maxRuntime: '30s' } });
    const waiting = wd.untilStopped(execution.id, { everyMs: 20 });
    await rt.sweeper.run();
    const stopped = await waiting;
    expect([stopped.state, stopped.by?.id, stopped.reasons]).toEqual(['cancelled', `policy:${execution.policy}`, ['runtime']]);
    const fin = await wd.finish(execution.id, 'succeeded').catch((e: unknown) => e);
    expect(fin).toMatchObject({ status: 409, code: 'execution_ended', stopped: { cancelled: true, reasons: ['runtime'] } });
    const live = await wd.track({ connection: 'sg', externalId: 'still-running' });
    const abort = new AbortController();
    const pending = wd.untilStopped(live.execution.id, { everyMs: 20, signal: abort.signal });
    abort.abort(new Error('run ended'));
    await expect(pending).rejects.toThrow('run ended');
  });

  it('bad input gets a precise 400; no auth gets 401; unknown ids 404', async () => {
    const bad = await webhook.handle(
      v1Request('POST', '/v1/executions', JSON.stringify({ connection: 'sg', externalId: 'x', limits: { maxRuntime: 'forever' } })),
    );
    expect(bad.response.status).toBe(400);
    expect(JSON.parse(bad.response.body).error).toMatch(/limits\.maxRuntime/);
    // One formatter for config files, CLI input and request bodies: paths with [i], keys named.
    const unknown = await webhook.handle(v1Request('POST', '/v1/executions', JSON.stringify({ connection: 'sg', externalId: 'x', lables: {} })));
    expect(JSON.parse(unknown.response.body).error).toBe('invalid track request: (body): unknown key "lables"');
    const hb = await webhook.handle(v1Request('POST', '/v1/executions/sg%2Fx/heartbeat', JSON.stringify({ progress: { done: -1 } })));
    expect(JSON.parse(hb.response.body).error).toMatch(/^invalid heartbeat: progress(\.done)?: /);
    const notJson = await webhook.handle(v1Request('POST', '/v1/executions', '{nope'));
    expect(JSON.parse(notJson.response.body).error).toBe('body is not valid JSON');
    const anon = await webhook.handle({
      method: 'POST',
      path: '/v1/executions',
      query: new URLSearchParams(),
      headers: { authorization: 'Bearer wrong' },
      body: '{}',
    });
    expect(anon.response.status).toBe(401);
    await expect(new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY }).get('wd_zzzzzzzzzzzz')).rejects.toThrow(WatchdogApiError);
  });

  it('WatchdogClient: an injected fetch carries every request; an error keeps its status and body', async () => {
    const seen: string[] = [];
    const spy: typeof fetch = async (input, init) => {
      seen.push(`${init?.method} ${input instanceof Request ? input.url : input.toString()}`);
      return fetch(input, init);
    };
    const client = new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY, fetch: spy });
    const { execution } = await client.track({ connection: 'sg', externalId: 'injected fetch' });
    await client.finish(execution.id);
    expect(seen).toEqual([`POST ${served.url}/v1/executions`, `POST ${served.url}/v1/executions/${execution.id}/finish`]);
    const err = await client.get('wd_zzzzzzzzzzzz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WatchdogApiError);
    expect(err).toMatchObject({ status: 404, message: 'no tracked execution wd_zzzzzzzzzzzz', body: { error: 'no tracked execution wd_zzzzzzzzzzzz' } });
    const html: typeof fetch = async () => new Response('<html>bad gateway</html>', { status: 502 });
    await expect(new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY, fetch: html }).get('x')).rejects.toMatchObject({
      status: 502,
      message: 'HTTP 502',
      body: '<html>bad gateway</html>',
    });
  });
});

it(`fuzz (seed ${TEST_SEED}): thousands of random and mutated requests → zero 5xx, zero state changes, zero provider calls`, async () => {
  const r = seeded();
  const ids = await Promise.all(Array.from({ length: 5 }, () => tracked()));
  const before = await Promise.all(ids.map((id) => rt.store.get(id)));
  const calls = sim.cancelCalls.size;
  const paths = [
    '/slack/commands',
    '/slack/interactions',
    '/discord/interactions',
    '/teams/messages',
    '/hooks/cancel',
    '/v1/executions',
    '/v1/executions/wd_zzzzzzzzzzzz/heartbeat',
    '/v1/executions/sg%2Fnope/finish',
    '/healthz',
    '/nope',
    '/v1/executions/%E0%A4%A',
  ];
  const rand = (k: number) => r.bytes(k).toString(['hex', 'base64', 'latin1'][k % 3] as BufferEncoding);
  const bodies = (): string => {
    const pick = Math.floor(r.next() * 8);
    if (pick === 0) return rand(Math.floor(r.next() * 300));
    if (pick === 1)
      return JSON.stringify({ type: Math.floor(r.next() * 5), data: { options: [{ name: 'cancel', options: [{ name: 'id', value: ids[0] }] }] } });
    if (pick === 2) return new URLSearchParams({ text: `cancel ${ids[2]}`, user_id: 'UEVIL' }).toString();
    if (pick === 3) return new URLSearchParams({ payload: rand(50) }).toString();
    if (pick === 4) return JSON.stringify({ id: ids[3], connection: rand(5), externalId: 42 });
    if (pick === 5) return `{"progress":{"pct":${r.next() * 300 - 100}}}`;
    if (pick === 6)
      return new URLSearchParams({
        payload: JSON.stringify({ user: { id: 'UEVIL' }, actions: [{ value: JSON.stringify({ a: 'cancel', id: ids[4] }) }] }),
      }).toString();
    return '';
  };
  let fiveXx = 0;
  for (let i = 0; i < 3000; i++) {
    const path = paths[i % paths.length]!;
    const body = bodies();
    const ts = String(Math.floor(Date.now() / 1000));
    const mode = i % 4;
    // Valid signatures on garbage bodies for a quarter, wrong or missing ones otherwise.
    const headers: Record<string, string> =
      mode === 0
        ? { 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(SLACK_SECRET, ts, body) }
        : mode === 1
          ? { ...signedHeaders(HOOK_SECRET, { method: i % 7 === 0 ? 'GET' : 'POST', target: path, body }), authorization: teamsSignature(TEAMS_TOKEN, body) }
          : mode === 2
            ? {
                'x-slack-request-timestamp': rand(4),
                'x-slack-signature': `v0=${rand(32)}`,
                'x-signature-ed25519': rand(64),
                'x-signature-timestamp': ts,
                authorization: `HMAC ${rand(10)}`,
              }
            : {};
    const res = await webhook.handle({ method: i % 7 === 0 ? 'GET' : 'POST', path, query: new URLSearchParams(), headers, body });
    if (res.response.status >= 500) fiveXx++;
  }
  expect(fiveXx).toBe(0);
  const after = await Promise.all(ids.map((id) => rt.store.get(id)));
  after.forEach((e, i) => expect(e!.version).toBe(before[i]!.version));
  expect(sim.cancelCalls.size).toBe(calls);
}, 60_000);
