/**
 * The webhook Lambda handler, in-process: a Function URL event (base64 body, as Function
 * URLs send form posts) for a signed Slack cancel, through the bundled-config boot path.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
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
      webhook: { slack: { secret: 'slack' } },
      policies: [{ name: 'default', maxRuntime: '4h', allow: { users: ['U1'] } }],
    },
    { mb: { apiKey: sim.apiKey }, slack: { signingSecret: 'lambda-slack-secret' } },
  );
});
afterAll(async () => {
  restore();
  await Promise.all([engine?.close(), sim?.close()]);
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
