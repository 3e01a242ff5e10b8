/**
 * Hostile input, one weakness per block: prototype-named connections through every entry
 * point, signatures bound to method and path, a malformed request target and raw bytes on
 * the socket, Teams replays, replays inside the window, scoped API keys, chat visibility,
 * markup in replies, the hook id check, the snooze cap. dynalite underneath.
 */
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seeded } from '../helpers/random.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { compileConfig } from '../../src/config/load.js';
import { prototypeNames } from '../../src/core/own.js';
import { teamsSignature } from '../../src/http/verify.js';
import { slackEscape } from '../../src/notify/markup.js';
import { shellQuote } from '../../src/security/signing.js';
import { API_KEY, HOOK_SECRET, TEAMS_TOKEN, type WebhookWorld, bearer, cmd, slackRequest, startWebhookWorld, v2Request } from '../helpers/webhook-world.js';

const PROTO = prototypeNames();
const body = (r: { response: { body: string } }) => JSON.parse(r.response.body) as Record<string, unknown>;

let w: WebhookWorld;
beforeAll(async () => {
  w = await startWebhookWorld({
    extraSecrets: { 'key-ml': JSON.stringify({ apiKey: 'ml-key' }), 'key-ops': JSON.stringify({ apiKey: 'ops-key' }) },
    config: (simUrl, hookBase) => ({
      connections: { sg: { provider: 'superglue', baseUrl: simUrl, secret: 'sg' }, sg2: { provider: 'superglue', baseUrl: simUrl, secret: 'sg' } },
      webhook: {
        slack: { secret: 'slack' },
        hooks: { secret: 'hooks' },
        teams: { secret: 'teams' },
        discord: { secret: 'discord', apiUrl: `${hookBase}/discord` },
        api: {
          keys: [
            { name: 'all', secret: 'api', connections: ['*'] },
            { name: 'ml', secret: 'key-ml', connections: ['sg'], labels: { team: 'ml' } },
            { name: 'ops', secret: 'key-ops', connections: ['sg2'] },
          ],
        },
        ackBudget: '500ms',
        maxBodyBytes: 8192,
      },
      policies: [
        {
          name: 'default',
          maxRuntime: '4h',
          maxExtension: '2h',
          maxSnooze: '3h',
          allow: { users: ['UALLOWED'], channels: ['CALLOWED'] },
          view: { users: ['UVIEWER'] },
        },
        { name: 'secret-team', maxRuntime: '4h', allow: { users: ['USECRET'] } },
      ],
    }),
  });
}, 30_000);
afterAll(async () => {
  await w?.close();
});

describe('1. Object.prototype names are never connections, policies or names', () => {
  it('tracking API: every prototype name as connection → 400 unknown connection; the sweep and list still work', async () => {
    for (const name of PROTO) {
      const res = await w.webhook.handle(
        bearer('POST', '/v1/executions', JSON.stringify({ connection: name, externalId: 'x', startedAt: '2020-01-01T00:00:00Z' })),
      );
      expect(res.response.status, name).toBe(400);
      expect(String(body(res).error), name).toMatch(/unknown connection|__proto__/);
      const get = await w.webhook.handle(bearer('GET', `/v1/executions/${encodeURIComponent(`${name}/x`)}`, ''));
      expect(get.response.status, name).toBe(400);
    }
    const id = await w.tracked();
    const summary = await w.rt.sweeper.run();
    expect(summary.errors).toBe(0);
    expect((await w.rt.watchdog.list({ state: 'running' })).items.map((e) => e.id)).toContain(id);
  });

  it('tracking API: a label key or a policy named like a prototype member is refused', async () => {
    for (const name of PROTO) {
      const labels = await w.webhook.handle(bearer('POST', '/v1/executions', `{"connection":"sg","externalId":"lbl","labels":{${JSON.stringify(name)}:"x"}}`));
      expect(labels.response.status, name).toBe(400);
      const policy = await w.webhook.handle(bearer('POST', '/v1/executions', JSON.stringify({ connection: 'sg', externalId: 'pol', policy: name })));
      expect(policy.response.status, name).toBe(400);
    }
    expect((await w.rt.watchdog.list({})).items.some((e) => e.externalId === 'lbl' || e.externalId === 'pol')).toBe(false);
  });

  it('chat: status/cancel of <prototype name>/x answers "not an execution id"; list still answers', async () => {
    for (const name of PROTO) {
      const res = await w.webhook.handle(slackRequest(cmd(`status ${name}/x`)));
      expect(String(body(res).text), name).toMatch(/is not an execution id/);
    }
    const list = await w.webhook.handle(slackRequest(cmd('list')));
    expect(String(body(list).text)).not.toMatch(/went wrong/);
  });

  it('config: a connection, provider, notify target, policy or api key named like a prototype member is a config error', () => {
    const base = (over: Record<string, unknown>) => ({
      connections: { ok: { provider: 'superglue', baseUrl: 'https://x.example', secret: 's' } },
      policies: [{ name: 'default', maxRuntime: '1h' }],
      ...over,
    });
    for (const name of PROTO.filter((n) => n !== '__proto__')) {
      expect(() => compileConfig(base({ connections: { [name]: { provider: 'superglue', baseUrl: 'https://x.example', secret: 's' } } })), name).toThrow(
        /reserved/,
      );
      expect(() => compileConfig(base({ notify: { [name]: { type: 'webhook', url: 'https://x.example', secret: 's' } } })), name).toThrow(/reserved/);
      expect(() => compileConfig(base({ providers: { [name]: { type: 'http', auth: { header: 'x' }, cancel: { path: '/{id}' } } } })), name).toThrow(
        /reserved/,
      );
      expect(
        () =>
          compileConfig(
            base({
              policies: [
                { name: 'default', maxRuntime: '1h' },
                { name, maxRuntime: '1h' },
              ],
            }),
          ),
        name,
      ).toThrow(/reserved/);
      expect(() => compileConfig(base({ policies: [{ name: 'default', maxRuntime: '1h', match: { connection: name } }] })), name).toThrow(/unknown connection/);
    }
    // `__proto__` as parsed JSON/YAML key: refused by path, never silently dropped.
    expect(() =>
      compileConfig(JSON.parse('{"connections":{"__proto__":{"provider":"superglue","secret":"s"}},"policies":[{"name":"default","maxRuntime":"1h"}]}')),
    ).toThrow(/connections.__proto__: "__proto__" is reserved/);
  });

  it('CLI: track and show with a prototype-named connection exit 1 with one line', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'wd-proto-'));
    for (const name of PROTO) {
      const err: string[] = [];
      const code = await runCli(['--data-dir', dataDir, 'track', name, 'x'], { out: () => undefined, err: (s) => err.push(s) });
      expect(code, name).toBe(1);
      expect(err.join('\n'), name).toMatch(/^watchdog: unknown connection/);
    }
    const err: string[] = [];
    expect(
      await runCli(['--data-dir', dataDir, 'track', 'kodexa-acme', 'x', '--label', 'constructor=1'], { out: () => undefined, err: (s) => err.push(s) }),
    ).toBe(1);
    expect(err.join('\n')).toMatch(/reserved/);
  }, 60_000);
});

describe('2. a v2 signature binds method, path and body', () => {
  it('a signed GET of A replays neither as a finish of B nor as a GET of B; v1 is refused', async () => {
    const a = await w.tracked();
    const b = await w.tracked();
    const getA = v2Request('GET', `/v1/executions/${a}`, '');
    expect((await w.webhook.handle(getA)).response.status).toBe(200);
    const asFinish = { ...getA, method: 'POST', path: `/v1/executions/${b}/finish` };
    expect((await w.webhook.handle(asFinish)).response.status).toBe(401);
    expect((await w.webhook.handle({ ...getA, path: `/v1/executions/${b}` })).response.status).toBe(401);
    // A signed {} heartbeat is not a finish.
    const hb = v2Request('POST', `/v1/executions/${b}/heartbeat`, '{}');
    expect((await w.webhook.handle({ ...hb, path: `/v1/executions/${b}/finish` })).response.status).toBe(401);
    expect((await w.rt.store.get(b))!.state).toBe('running');
    // The query is signed too.
    const q = v2Request('GET', `/v1/executions/${a}`, '');
    expect((await w.webhook.handle({ ...q, query: new URLSearchParams('x=1') })).response.status).toBe(401);
    // The old scheme (HMAC of "ts.body") no longer opens anything.
    const ts = Math.floor(Date.now() / 1000);
    const { createHmac } = await import('node:crypto');
    const v1 = `v1=${createHmac('sha256', HOOK_SECRET).update(`${ts}.`).digest('hex')}`;
    expect(
      (
        await w.webhook.handle({
          method: 'GET',
          path: `/v1/executions/${a}`,
          query: new URLSearchParams(),
          body: '',
          headers: { 'x-watchdog-timestamp': String(ts), 'x-watchdog-signature': v1 },
        })
      ).response.status,
    ).toBe(401);
  });
});

describe('3. no request crashes the local server', () => {
  const raw = (payload: Buffer | string): Promise<string> =>
    new Promise((resolve) => {
      const u = new URL(w.served.url);
      const sock = net.connect(Number(u.port), u.hostname);
      let got = '';
      sock.on('data', (d) => {
        got += d.toString('latin1');
      });
      sock.on('error', () => resolve(got));
      sock.on('close', () => resolve(got));
      sock.setTimeout(2_000, () => sock.destroy());
      sock.end(payload);
    });

  it('an unparsable request target gets 400; raw garbage on the socket never takes the process down', async () => {
    expect(await raw('GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    const { next: rand, bytes: seededBytes } = seeded();
    const shapes = [
      () => seededBytes(1 + Math.floor(rand() * 400)),
      () => `POST /v1/executions HTTP/1.1\r\nContent-Length: ${Math.floor(rand() * 1e6)}\r\n\r\n{`,
      () => `GET /${'%'.repeat(Math.floor(rand() * 50))} HTTP/1.1\r\n\r\n`,
      () => `GET http://[${Math.floor(rand() * 9)} HTTP/1.1\r\nHost: y\r\n\r\n`,
      () => `POST /slack/commands HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      () => `\u0000\u00ff HTTP/9.9\r\n\r\n`,
    ];
    for (let i = 0; i < 120; i++) await raw(shapes[i % shapes.length]!());
    const health = await fetch(`${w.served.url}/healthz`);
    expect(health.status).toBe(200);
  }, 60_000);
});

describe('4. Teams: stale and replayed activities are refused', () => {
  const teams = (activity: Record<string, unknown>) => {
    const text = JSON.stringify({ type: 'message', from: { id: 'x', aadObjectId: 'UALLOWED' }, ...activity });
    return { method: 'POST', path: '/teams/messages', query: new URLSearchParams(), body: text, headers: { authorization: teamsSignature(TEAMS_TOKEN, text) } };
  };
  it('older than 5 minutes → 401; the same id twice → already handled, one extension', async () => {
    const id = await w.tracked();
    const old = await w.webhook.handle(teams({ id: 'a1', timestamp: new Date(Date.now() - 6 * 60_000).toISOString(), text: `extend ${id} 10m` }));
    expect(old.response.status).toBe(401);
    const missing = await w.webhook.handle(teams({ text: `extend ${id} 10m` }));
    expect(missing.response.status).toBe(400);
    const act = { id: `a2-${id}`, timestamp: new Date().toISOString(), text: `extend ${id} 10m` };
    expect(String(body(await w.webhook.handle(teams(act))).text)).toContain('Extended');
    expect(String(body(await w.webhook.handle(teams(act))).text)).toContain('already handled');
    expect((await w.rt.store.get(id))!.extensions).toHaveLength(1);
  });
});

describe('5. replays inside the window change nothing', () => {
  it('Slack: the same signed extend twice → one extension; a Slack retry (new signature, same trigger_id) is idempotent', async () => {
    const id = await w.tracked();
    const req = slackRequest(cmd(`extend ${id} 10m`, 'UALLOWED', { trigger_id: `t-${id}` }));
    expect(String(body(await w.webhook.handle(req)).text)).toContain('Extended');
    expect(String(body(await w.webhook.handle(req)).text)).toContain('already handled');
    const retry = slackRequest(cmd(`extend ${id} 10m`, 'UALLOWED', { trigger_id: `t-${id}` }), { ts: Math.floor(Date.now() / 1000) - 1 });
    expect(String(body(await w.webhook.handle({ ...retry, headers: { ...retry.headers, 'x-slack-retry-num': '1' } })).text)).toContain('already handled');
    expect((await w.rt.store.get(id))!.extensions).toHaveLength(1);
    // Reads are not recorded: status twice answers twice.
    const st = slackRequest(cmd(`status ${id}`));
    expect(String(body(await w.webhook.handle(st)).text)).toContain('running');
    expect(String(body(await w.webhook.handle(st)).text)).toContain('running');
  });

  it('v2: the same signed finish and the same signed hook cancel twice → the copy is refused with 409', async () => {
    const id = await w.tracked();
    const finish = v2Request('POST', `/v1/executions/${id}/finish`, '{"status":"succeeded"}');
    expect((await w.webhook.handle(finish)).response.status).toBe(200);
    const again = await w.webhook.handle(finish);
    expect(again.response.status).toBe(409);
    expect(String(body(again).error)).toMatch(/already handled/);
    const c = await w.tracked();
    const hook = v2Request('POST', '/hooks/cancel', JSON.stringify({ id: c, reason: 'pager' }));
    expect((await w.webhook.handle(hook)).response.status).toBe(202);
    expect((await w.webhook.handle(hook)).response.status).toBe(409);
    expect(w.sim.cancelCalls.get((await w.rt.store.get(c))!.externalId)).toBe(1);
  });
});

describe('6. low', () => {
  it('a signed /hooks/cancel with an invalid id is a 400 with the reason', async () => {
    const res = await w.webhook.handle(v2Request('POST', '/hooks/cancel', JSON.stringify({ id: '../../admin' })));
    expect(res.response.status).toBe(400);
    expect(String(body(res).error)).toMatch(/not an execution id/);
  });

  it('chat replies escape ids and reasons: no live Slack markup comes back', async () => {
    const evil = '<!channel> <https://evil.example|Extend here> & more';
    const id = await w.tracked(evil);
    await w.rt.watchdog.extend(id, '5m', { id: 'test', via: 'test' }, '<!here> please');
    const status = String(body(await w.webhook.handle(slackRequest(cmd(`status ${id}`)))).text);
    expect(status).not.toMatch(/<!channel>|<!here>|<https:/);
    expect(status).toContain(slackEscape(evil));
    const list = String(body(await w.webhook.handle(slackRequest(cmd('list sg')))).text);
    expect(list).not.toMatch(/<!channel>|<https:/);
    const cancel = String(body(await w.webhook.handle(slackRequest(cmd(`cancel ${id}`, 'UALLOWED', { trigger_id: `c-${id}` })))).text);
    expect(cancel).toContain(`Cancelled ${id}`);
    expect(cancel).not.toMatch(/<!channel>|<https:/);
    const unknown = String(body(await w.webhook.handle(slackRequest(cmd('<!channel>')))).text);
    expect(unknown).not.toContain('<!channel>');
  });

  it('shellQuote keeps a reason with quotes a single shell word', async () => {
    const { execFile } = await import('node:child_process');
    const reason = `it's "bad"; $(touch /tmp/pwned) \`id\``;
    const echoed = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', `printf %s ${shellQuote(reason)}`], (err, out) => (err ? reject(new Error(err.message)) : resolve(out))),
    );
    expect(echoed).toBe(reason);
  });

  it('snooze is capped by the policy maxSnooze', async () => {
    const id = await w.tracked();
    const res = String(body(await w.webhook.handle(slackRequest(cmd(`snooze ${id} 4h`, 'UALLOWED', { trigger_id: `s-${id}` })))).text);
    expect(res).toMatch(/exceeds maxSnooze 3h/);
    expect((await w.rt.store.get(id))!.snoozedUntil).toBeUndefined();
    const ok = String(body(await w.webhook.handle(slackRequest(cmd(`snooze ${id} 3h`, 'UALLOWED', { trigger_id: `s2-${id}` })))).text);
    expect(ok).toContain('snoozed');
  });
});

describe('scoped API keys and chat visibility', () => {
  it('a key acts only inside its connections and labels; outside reads as 404', async () => {
    const mine = await w.tracked(undefined, { labels: { team: 'ml' } });
    const unlabelled = await w.tracked();
    const other = (await w.rt.watchdog.track({ connection: 'sg2', externalId: 'ops-1' }, { id: 't', via: 't' })).execution.id;
    const ml = (m: string, p: string, b = '') => w.webhook.handle(bearer(m, p, b, 'ml-key'));
    expect((await ml('GET', `/v1/executions/${mine}`)).response.status).toBe(200);
    expect((await ml('POST', `/v1/executions/${mine}/heartbeat`, '{"costUsd":1}')).response.status).toBe(200);
    for (const id of [unlabelled, other]) {
      expect((await ml('GET', `/v1/executions/${id}`)).response.status).toBe(404);
      expect((await ml('POST', `/v1/executions/${id}/heartbeat`, '{}')).response.status).toBe(404);
      expect((await ml('POST', `/v1/executions/${id}/finish`, '{}')).response.status).toBe(404);
    }
    expect((await w.rt.store.get(other))!.state).toBe('running');
    const outside = await ml('POST', '/v1/executions', JSON.stringify({ connection: 'sg2', externalId: 'x', labels: { team: 'ml' } }));
    expect(outside.response.status).toBe(400);
    expect(String(body(outside).error)).toMatch(/unknown connection "sg2"; expected one of sg$/);
    expect((await ml('POST', '/v1/executions', JSON.stringify({ connection: 'sg', externalId: 'nolabel' }))).response.status).toBe(400);
    expect((await ml('POST', '/v1/executions', JSON.stringify({ connection: 'sg', externalId: 'ml-2', labels: { team: 'ml' } }))).response.status).toBe(201);
    // The all-connections key and the ops key.
    expect((await w.webhook.handle(bearer('GET', `/v1/executions/${other}`, '', API_KEY))).response.status).toBe(200);
    expect((await w.webhook.handle(bearer('GET', `/v1/executions/${other}`, '', 'ops-key'))).response.status).toBe(200);
    expect((await w.webhook.handle(bearer('GET', `/v1/executions/${mine}`, '', 'ops-key'))).response.status).toBe(404);
    expect((await w.webhook.handle(bearer('GET', `/v1/executions/${mine}`, '', 'nobody'))).response.status).toBe(401);
  });

  it('chat: status and list show only what the person may see; a viewer sees but cannot act', async () => {
    const hidden = await w.tracked(undefined, { policy: 'secret-team' });
    const open = await w.tracked();
    const as = async (user: string, text: string) =>
      String(
        body(await w.webhook.handle(slackRequest({ command: '/watchdog', text, user_id: user, channel_id: 'CNONE', trigger_id: `${user}-${text}` }))).text,
      );
    expect(await as('UALLOWED', `status ${hidden}`)).toMatch(/No tracked execution/);
    expect(await as('UALLOWED', 'list')).not.toContain(hidden);
    expect(await as('UALLOWED', 'list')).toContain(open);
    expect(await as('USECRET', `status ${hidden}`)).toContain('secret-team');
    expect(await as('UVIEWER', `status ${open}`)).toContain('running');
    expect(await as('UVIEWER', `cancel ${open}`)).toMatch(/not allowed/);
    expect(await as('UNOBODY', `cancel ${open}`)).toMatch(/No tracked execution/);
    expect(await as('UNOBODY', 'list')).not.toContain(open);
    expect((await w.rt.store.get(open))!.state).toBe('running');
  });
});
