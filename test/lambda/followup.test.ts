/**
 * Follow-ups through the webhook Lambda handler: the person's answer is returned before any
 * follow-up is posted (Discord rejects a follow-up that precedes the interaction's first
 * answer); the slow half goes to the queue and comes back as an SQS event, which carries out
 * the cancel and posts the outcome. SQS and Slack stand-ins, dynalite, a provider simulator.
 */
import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { slackSignedHeaders } from '../../src/http/verify.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { type SlackStandIn, startSlackStandIn } from '../../src/simulators/slack.js';
import { lambdaEnvironment } from '../helpers/lambda.js';
import { type SqsStandIn, startSqs } from '../helpers/sqs.js';

const keys = generateKeyPairSync('ed25519');
let engine: Engine;
let sim: Simulator;
let slack: SlackStandIn;
let sqs: SqsStandIn;
let restore = () => {};

beforeAll(async () => {
  [engine, sim, slack, sqs] = await Promise.all([startDynalite(), startSimulator('superglue'), startSlackStandIn({ token: 'xoxb-f' }), startSqs()]);
  restore = await lambdaEnvironment(
    engine,
    {
      settings: { tableName: 'lambda-followups' },
      connections: { sg: { provider: 'superglue', baseUrl: sim.url, secret: 'sg' } },
      webhook: { slack: { secret: 'slack' }, discord: { secret: 'discord', apiUrl: `${slack.hookBase}/discord` }, hooks: { secret: 'hooks' } },
      policies: [{ name: 'default', maxRuntime: '4h', maxCostUsd: 10, allow: { users: ['U1'] } }],
    },
    {
      sg: { apiKey: sim.apiKey },
      slack: { signingSecret: 'f-slack' },
      hooks: { signingSecret: 'f-hooks' },
      discord: { publicKey: (keys.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12).toString('hex') },
    },
  );
  Object.assign(process.env, { WATCHDOG_FOLLOWUP_QUEUE_URL: sqs.queueUrl, AWS_ENDPOINT_URL_SQS: sqs.endpoint });
});
afterAll(async () => {
  restore();
  await Promise.all([engine?.close(), sim?.close(), slack?.close(), sqs?.close()]);
});

/** The test's own view of the table, booted as the Lambda boots (same config file, same environment). */
async function runtime() {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  return bootRuntime(silentLog);
}

const urlEvent = (path: string, body: string, headers: Record<string, string>) => ({
  rawPath: path,
  requestContext: { http: { method: 'POST' } },
  body,
  headers,
});

it('Discord: the answer leaves first; the follow-up (cancel carried out, outcome posted) comes from the queue, with a delay', async () => {
  const rt = await runtime();
  sim.add({ id: 'fu-discord' });
  const { execution } = await rt.watchdog.track({ connection: 'sg', externalId: 'fu-discord' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');

  const interaction = JSON.stringify({
    type: 2,
    id: '99',
    application_id: '4242',
    token: 'tok-fu',
    member: { user: { id: 'U1' } },
    data: { name: 'watchdog', options: [{ name: 'cancel', options: [{ name: 'id', value: execution.id }] }] },
  });
  const ts = String(Math.floor(Date.now() / 1000));
  const answer = await handler(
    urlEvent('/discord/interactions', interaction, {
      'x-signature-ed25519': edSign(null, Buffer.from(ts + interaction), keys.privateKey).toString('hex'),
      'x-signature-timestamp': ts,
    }),
  );
  expect(answer.statusCode).toBe(200);
  expect(JSON.parse(answer.body).data.content).toMatch(/requested by discord:U1; the outcome will follow/);
  // Nothing posted, nothing cancelled yet: the answer is out first.
  expect(slack.hooks.filter((h) => h.path.includes('/webhooks/4242/tok-fu'))).toHaveLength(0);
  expect(sim.cancelCalls.get('fu-discord')).toBeUndefined();
  expect((await rt.store.get(execution.id))!.state).toBe('cancel_requested');
  expect(sqs.messages).toHaveLength(1);
  expect(sqs.messages[0]!.delaySeconds).toBe(1);

  const out = await handler({ Records: [{ messageId: sqs.messages[0]!.messageId, body: sqs.messages[0]!.body }] });
  expect(out).toEqual({ batchItemFailures: [] });
  expect(sim.cancelCalls.get('fu-discord')).toBe(1);
  const follow = slack.hooks.find((h) => h.path.includes('/webhooks/4242/tok-fu'))!;
  expect((follow.body as { content: string }).content).toContain('Cancelled');
  expect((await rt.store.get(execution.id))!.state).toBe('cancelled');
});

it('Slack button: acknowledged empty at once; the queued press replaces the warning through response_url; a failed post is retried by the queue', async () => {
  const rt = await runtime();
  sim.add({ id: 'fu-slack' });
  const { execution } = await rt.watchdog.track({ connection: 'sg', externalId: 'fu-slack' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');
  const before = sqs.messages.length;
  const body = new URLSearchParams({
    payload: JSON.stringify({
      type: 'block_actions',
      user: { id: 'U1' },
      trigger_id: 'trig-fu',
      response_url: `${slack.responseBase}/T/fu`,
      actions: [{ value: JSON.stringify({ a: 'extend', id: execution.id, d: '30m' }) }],
    }),
  }).toString();
  const ack = await handler(urlEvent('/slack/interactions', body, slackSignedHeaders('f-slack', body)));
  expect(ack).toEqual({ statusCode: 200, headers: {}, body: '' });
  expect((await rt.store.get(execution.id))!.extensions).toHaveLength(0); // not yet: the press is queued
  const job = sqs.messages[before]!;
  // A message that is not a follow-up (schema or not JSON) fails like any other, so it reaches
  // the dead-letter queue; a good one runs. On its last delivery a failure is counted (EMF).
  const logs: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string) => (logs.push(String(chunk)), true);
  let out: unknown;
  try {
    out = await handler({
      Records: [
        { messageId: 'junk', body: '{"kind":"nope"}' },
        { messageId: 'not-json', body: 'hello', attributes: { ApproximateReceiveCount: '5' } },
        { messageId: job.messageId, body: job.body },
      ],
    });
  } finally {
    process.stdout.write = write;
  }
  expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: 'junk' }, { itemIdentifier: 'not-json' }] });
  expect(
    logs
      .map((l) => (l.includes('FollowUpsGivenUp') ? (JSON.parse(l) as { FollowUpsGivenUp: number }).FollowUpsGivenUp : undefined))
      .filter((x) => x !== undefined),
  ).toEqual([1]);
  expect((await rt.store.get(execution.id))!.extensions).toHaveLength(1);
  expect(slack.responses.find((r) => r.path === '/response/T/fu')?.body).toMatchObject({ replace_original: true, text: expect.stringContaining('Extended') });
  // A press whose response_url fails is not run twice (it would extend twice): logged, done.
  const failing = { ...(JSON.parse(job.body) as object), responseUrl: 'http://127.0.0.1:1/closed' };
  expect(await handler({ Records: [{ messageId: 'press-2', body: JSON.stringify(failing) }] })).toEqual({ batchItemFailures: [] });
  // A cancel outcome whose post fails is reported failed, so SQS delivers it again; the retry
  // only reports (the cancel is settled) — as when Discord refuses a follow-up that came early.
  sim.add({ id: 'fu-retry' });
  const r = (await rt.watchdog.track({ connection: 'sg', externalId: 'fu-retry' }, { id: 'test', via: 'test' })).execution;
  await rt.watchdog.requestCancel(r.id, { id: 'slack:U1', via: 'slack' }, undefined);
  const cancelJob = (url: string) => JSON.stringify({ kind: 'cancel', v: 1, id: r.id, reply: { to: 'slack', url } });
  expect(await handler({ Records: [{ messageId: 'retry-me', body: cancelJob('http://127.0.0.1:1/closed') }] })).toEqual({
    batchItemFailures: [{ itemIdentifier: 'retry-me' }],
  });
  expect(await handler({ Records: [{ messageId: 'retry-me', body: cancelJob(`${slack.responseBase}/T/retry`) }] })).toEqual({ batchItemFailures: [] });
  expect(sim.cancelCalls.get('fu-retry')).toBe(1);
  expect((slack.responses.find((x) => x.path === '/response/T/retry')?.body as { text: string }).text).toContain('Cancelled');
});

it('a heartbeat reporting cost past the limit: answered at once, handed to the queue, and its consumer cancels (no sweep in between)', async () => {
  const { signedHeaders } = await import('../../src/security/signing.js');
  const rt = await runtime();
  sim.add({ id: 'fu-spend' });
  const { execution } = await rt.watchdog.track({ connection: 'sg', externalId: 'fu-spend' }, { id: 'test', via: 'test' });
  const { handler } = await import('../../lambdas/webhook.js');
  const before = sqs.messages.length;
  const path = `/v1/executions/${execution.id}/heartbeat`;
  const body = JSON.stringify({ costUsd: 12 });
  const answer = await handler(
    urlEvent(path, body, { 'content-type': 'application/json', ...signedHeaders('f-hooks', { method: 'POST', target: path, body }) }),
  );
  expect(answer.statusCode).toBe(200);
  expect(sim.cancelCalls.get('fu-spend')).toBeUndefined(); // not in the answer's time
  const job = sqs.messages[before]!;
  expect(JSON.parse(job.body)).toEqual({ kind: 'enforce', v: 1, id: execution.id });
  expect(await handler({ Records: [{ messageId: job.messageId, body: job.body }] })).toEqual({ batchItemFailures: [] });
  expect(sim.cancelCalls.get('fu-spend')).toBe(1);
  expect((await rt.store.get(execution.id))!.state).toBe('cancelled');
  // Delivered twice (SQS is at-least-once): still one cancel.
  expect(await handler({ Records: [{ messageId: job.messageId, body: job.body }] })).toEqual({ batchItemFailures: [] });
  expect(sim.cancelCalls.get('fu-spend')).toBe(1);
});
