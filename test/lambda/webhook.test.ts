/**
 * The webhook Lambda handler, in-process: a Function URL event (base64 body, as Function
 * URLs send form posts) for a signed Slack cancel, through the bundled-config boot path.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { slackSignature } from '../../src/http/verify.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { lambdaEnvironment } from '../helpers/lambda.js';

let engine: Engine;
let sim: Simulator;
let restore = () => {};

beforeAll(async () => {
  [engine, sim] = await Promise.all([startDynalite(), startSimulator('meibel')]);
  restore = await lambdaEnvironment(
    engine,
    {
      settings: { tableName: 'lambda-webhook' },
      connections: { mb: { provider: 'meibel', baseUrl: sim.url, secret: 'mb' } },
      webhook: {
        slack: { secret: 'slack' },
        hooks: { secret: 'hooks' },
        api: { keys: [{ name: 'ml', secret: 'api-ml', connections: ['mb'], labels: { team: 'ml' } }] },
      },
      policies: [
        { name: 'default', maxRuntime: '4h', maxCostUsd: 100, allow: { users: ['U1'] } },
        { name: 'loose', maxRuntime: '12h', mode: 'dry-run' },
      ],
    },
    {
      mb: { apiKey: sim.apiKey },
      slack: { signingSecret: 'lambda-slack-secret' },
      hooks: { signingSecret: 'lambda-hooks-secret' },
      'api-ml': { apiKey: 'ml-key' },
    },
  );
});
afterAll(async () => {
  restore();
  await Promise.all([engine?.close(), sim?.close()]);
});

it('without its follow-up queue the handler refuses to start (a follow-up would go before the answer), saying which variable', async () => {
  const queue = process.env.WATCHDOG_FOLLOWUP_QUEUE_URL;
  delete process.env.WATCHDOG_FOLLOWUP_QUEUE_URL;
  vi.resetModules();
  try {
    const { handler } = await import('../../lambdas/webhook.js');
    await expect(handler({ rawPath: '/healthz', requestContext: { http: { method: 'GET' } }, headers: {} } as never)).rejects.toThrow(
      /WATCHDOG_FOLLOWUP_QUEUE_URL is not set/,
    );
  } finally {
    process.env.WATCHDOG_FOLLOWUP_QUEUE_URL = queue;
    vi.resetModules();
  }
});

it('a signed Slack cancel as a Function URL event cancels on the provider; a bad signature is 401', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'lambda-wh-run' });
  const { execution } = await rt.watchdog.track({ connection: 'mb', externalId: 'lambda-wh-run' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');
  const body = new URLSearchParams({ command: '/watchdog', text: `cancel ${execution.id} from lambda`, user_id: 'U1', channel_id: 'C1' }).toString();
  const ts = String(Math.floor(Date.now() / 1000));
  const event = (signature: string) => ({
    rawPath: '/slack/commands',
    requestContext: { http: { method: 'POST' } },
    isBase64Encoded: true,
    body: Buffer.from(body).toString('base64'),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Slack-Request-Timestamp': ts, 'X-Slack-Signature': signature },
  });
  const bad = await handler(event('v0=00'));
  expect(bad.statusCode).toBe(401);
  expect(sim.cancelCalls.size).toBe(0);
  const res = await handler(event(slackSignature('lambda-slack-secret', ts, body)));
  expect(res.statusCode).toBe(200);
  expect(JSON.parse(res.body).text).toContain(`Cancelled ${execution.id}`);
  expect(sim.cancelCalls.get('lambda-wh-run')).toBe(1);
  expect((await handler({ rawPath: '/healthz', requestContext: { http: { method: 'GET' } } })).statusCode).toBe(200);
});

it('API Gateway: an HTTP API with a named stage and a REST API (proxy) event route as the Function URL does; a v2 signature covers the path the caller addressed', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const { signedHeaders } = await import('../../src/security/signing.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'apigw-run' });
  const { execution } = await rt.watchdog.track({ connection: 'mb', externalId: 'apigw-run' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');
  // HTTP API, stage "prod": rawPath carries the stage.
  expect((await handler({ rawPath: '/prod/healthz', requestContext: { http: { method: 'GET' }, stage: 'prod' } })).statusCode).toBe(200);
  const body = JSON.stringify({ costUsd: 2 });
  const addressed = `/prod/v1/executions/${execution.id}/heartbeat`;
  const v2 = (signedPath: string) =>
    handler({
      rawPath: addressed,
      requestContext: { http: { method: 'POST' }, stage: 'prod' },
      isBase64Encoded: true,
      body: Buffer.from(body).toString('base64'),
      headers: { 'content-type': 'application/json', ...signedHeaders('lambda-hooks-secret', { method: 'POST', target: signedPath, body }) },
    });
  expect((await v2(addressed)).statusCode).toBe(200);
  // A signature over another path (the stage dropped) does not verify.
  expect((await v2(addressed.slice('/prod'.length))).statusCode).toBe(401);
  // $default stage: no prefix to remove.
  expect((await handler({ rawPath: '/healthz', requestContext: { http: { method: 'GET' }, stage: '$default' } })).statusCode).toBe(200);
  // REST API (payload 1.0): path without the stage, multi-value headers, requestContext.path as addressed.
  const rest = await handler({
    httpMethod: 'GET',
    path: `/v1/executions/${execution.id}`,
    requestContext: { stage: 'prod', path: `/prod/v1/executions/${execution.id}` },
    multiValueHeaders: Object.fromEntries(
      Object.entries(signedHeaders('lambda-hooks-secret', { method: 'GET', target: `/prod/v1/executions/${execution.id}`, body: '' })).map(([k, v]) => [
        k,
        [v],
      ]),
    ),
    body: null,
  });
  expect(rest.statusCode).toBe(200);
  expect((JSON.parse(rest.body) as { execution: { costUsd: number } }).execution.costUsd).toBe(2);
});

it('WatchdogClient with a staged base URL (https://…/prod) calls and signs /prod/v1/…, which the handler behind an HTTP API stage accepts', async () => {
  const { WatchdogClient } = await import('../../src/client.js');
  const { handler } = await import('../../lambdas/webhook.js');
  sim.add({ id: 'staged-run' });
  const seen: string[] = [];
  const client = new WatchdogClient({
    baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
    signingSecret: 'lambda-hooks-secret',
    attempts: 1,
    fetch: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input.toString());
      seen.push(url.pathname);
      const r = await handler({
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        requestContext: { http: { method: init?.method ?? 'GET' }, stage: 'prod' },
        headers: Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>)),
        body: typeof init?.body === 'string' ? init.body : '',
      });
      return new Response(r.body, { status: r.statusCode, headers: r.headers });
    },
  });
  const { execution } = await client.track({ connection: 'mb', externalId: 'staged-run' });
  expect((await client.heartbeat(execution.id, { costUsd: 1 })).execution.costUsd).toBe(1);
  expect(seen).toEqual(['/prod/v1/executions', `/prod/v1/executions/${encodeURIComponent(execution.id)}/heartbeat`]);
});

it('through the Lambda event path: a late copy of a signed heartbeat cannot roll cost back, and a body nested 30,000 deep is 400', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const { signedHeaders } = await import('../../src/security/signing.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'rollback-run' });
  const { execution } = await rt.watchdog.track({ connection: 'mb', externalId: 'rollback-run' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');
  const path = `/v1/executions/${execution.id}/heartbeat`;
  const event = (body: string, at: number) => ({
    rawPath: path,
    requestContext: { http: { method: 'POST' } },
    headers: { 'content-type': 'application/json', ...signedHeaders('lambda-hooks-secret', { method: 'POST', target: path, body }, at) },
    body,
  });
  const t0 = Date.now() - 5_000;
  const one = event(JSON.stringify({ costUsd: 1 }), t0);
  expect((await handler(one)).statusCode).toBe(200);
  expect((await handler(event(JSON.stringify({ costUsd: 45 }), t0 + 2_000))).statusCode).toBe(200);
  expect((await handler(one)).statusCode).toBe(200);
  expect((await rt.store.get(execution.id))!.costUsd).toBe(45);
  const deep = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
  expect((await handler(event(deep, Date.now()))).statusCode).toBe(400);
});

it('through the Lambda event path: a scoped key cannot read a run outside its scope by tracking it, nor name a looser policy; a request dated far ahead is refused', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const rt = bootRuntime(silentLog);
  sim.add({ id: 'victim-run' });
  await rt.watchdog.track({ connection: 'mb', externalId: 'victim-run', owner: 'alice' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');
  const track = (body: unknown) =>
    handler({
      rawPath: '/v1/executions',
      requestContext: { http: { method: 'POST' } },
      headers: { authorization: 'Bearer ml-key', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const leak = await track({ connection: 'mb', externalId: 'victim-run', labels: { team: 'ml' } });
  expect(leak.statusCode).toBe(409);
  expect(leak.body).not.toContain('alice');
  expect((await track({ connection: 'mb', externalId: 'ml-run', labels: { team: 'ml' }, policy: 'loose' })).statusCode).toBe(400);
  // A Slack request dated 295 s ahead: refused (a copy of it could otherwise outlive its nonce).
  const body = new URLSearchParams({ command: '/watchdog', text: 'list', user_id: 'U1', channel_id: 'C1' }).toString();
  const ts = String(Math.floor(Date.now() / 1000) + 295);
  const ahead = await handler({
    rawPath: '/slack/commands',
    requestContext: { http: { method: 'POST' } },
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature('lambda-slack-secret', ts, body),
    },
  });
  expect(ahead.statusCode).toBe(401);
});
