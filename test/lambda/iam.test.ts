/**
 * Least privilege that still works: every DynamoDB call the two Lambda handlers make — a
 * sweep that cancels, warns, runs its probes and safety net; the tracking API and chat
 * commands — is recorded at the wire (a proxy in front of dynalite) and must be allowed by
 * the role the construct synthesizes for that function, on that resource (table or index),
 * as an IAM policy-evaluation engine decides over the synthesized template.
 * A store change that needs a new action fails here, not in AWS.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WatchdogStack } from '../../lib/watchdog-stack.js';
import { slackSignature } from '../../src/http/verify.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.js';
import { HOUR } from '../helpers/fixtures.js';
import { type CfnTemplate, EvaluatedTemplate, evaluate } from '../helpers/iam-eval.js';
import { lambdaEnvironment } from '../helpers/lambda.js';

let engine: Engine;
let proxy: FaultProxy;
let sim: Simulator;
let restore = () => {};
/** Calls seen while recording: "<Operation>" or "<Operation> index <name>". */
let recording: Set<string> | undefined;

beforeAll(async () => {
  [engine, sim] = await Promise.all([startDynalite(), startSimulator('superglue')]);
  proxy = await startFaultProxy(engine.endpoint, {
    onRequest: (op, body) => {
      const parsed = JSON.parse(body || '{}') as { IndexName?: string; Key?: { pk?: { S?: string } } };
      // An UpdateItem is recorded with its partition key: the webhook's one is conditioned on it.
      const key = op === 'UpdateItem' ? parsed.Key?.pk?.S : undefined;
      recording?.add(parsed.IndexName ? `${op} index ${parsed.IndexName}` : key ? `${op} key ${key.startsWith('X#') ? 'X#<execution>' : key}` : op);
    },
  });
  restore = await lambdaEnvironment(
    { ...engine, endpoint: proxy.endpoint },
    {
      settings: { tableName: 'iam-table' },
      connections: { sg: { provider: 'superglue', baseUrl: sim.url, secret: 'sg', discover: { every: '5m' } } },
      webhook: { slack: { secret: 'slack' }, api: { secret: 'api' } },
      policies: [{ name: 'default', maxRuntime: '1h', notify: [], allow: { users: ['U1'] } }],
    },
    { sg: { apiKey: sim.apiKey }, slack: { signingSecret: 'iam-slack' }, api: { apiKey: 'iam-key' } },
  );
}, 60_000);
afterAll(async () => {
  restore();
  await Promise.all([proxy?.close(), engine?.close(), sim?.close()]);
});

async function record(fn: () => Promise<unknown>): Promise<string[]> {
  recording = new Set();
  try {
    await fn();
    return [...recording].sort();
  } finally {
    recording = undefined;
  }
}

/** Is `call` ("<Operation>" or "<Operation> index <name>") allowed for the role, evaluated by the IAM engine over the synthesized policies? */
async function allowed(t: EvaluatedTemplate, rolePrefix: string, call: string): Promise<boolean> {
  const [op, kind, arg] = call.split(' ');
  const index = kind === 'index' ? arg : undefined;
  const leadingKey = kind === 'key' ? arg : undefined;
  const roleId = Object.keys(t.resources).find((id) => id.startsWith(rolePrefix) && t.resources[id]!.Type === 'AWS::IAM::Role')!;
  const tableId = t.ofType('AWS::DynamoDB::GlobalTable')[0]![0];
  const tableArn = t.att(tableId, 'Arn');
  const resource = index ? `${tableArn}/index/${index}` : tableArn;
  const verdict = await evaluate(
    { principal: t.att(roleId, 'Arn'), action: `dynamodb:${op}`, resource, ...(leadingKey ? { context: { 'dynamodb:LeadingKeys': [leadingKey] } } : {}) },
    t.identityPolicies(roleId),
    undefined,
  );
  return verdict === 'Allowed';
}
const allAllowed = async (t: EvaluatedTemplate, rolePrefix: string, calls: string[]) => {
  const refused: string[] = [];
  for (const c of calls) if (!(await allowed(t, rolePrefix, c))) refused.push(c);
  return refused;
};

it('every DynamoDB call of both handlers is allowed by its own role, on that table or index', async () => {
  const { bootRuntime } = await import('../../src/lambda/boot.js');
  const { silentLog } = await import('../../src/log.js');
  const rt = bootRuntime(silentLog);
  // 'iam-by-hand' is nobody's: the sweep's discovery tracks it.
  for (const id of ['iam-runaway', 'iam-warned', 'iam-by-hand']) sim.add({ id });
  await rt.watchdog.track({ connection: 'sg', externalId: 'iam-runaway', startedAt: Date.now() - 2 * HOUR }, { id: 'test', via: 'test' });
  await rt.watchdog.track({ connection: 'sg', externalId: 'iam-warned', startedAt: Date.now() - 50 * 60_000 }, { id: 'test', via: 'test' });

  const { handler: sweep } = await import('../../lambdas/sweeper.js');
  const sweeperCalls = await record(async () => {
    const r = await sweep({}, { getRemainingTimeInMillis: () => 60_000 });
    expect(r).toMatchObject({ cancelled: 1, warned: 1, discovered: 1 });
  });

  const { handler: webhook } = await import('../../lambdas/webhook.js');
  const api = (method: string, path: string, body?: unknown) =>
    webhook({
      rawPath: path,
      requestContext: { http: { method } },
      headers: { authorization: 'Bearer iam-key', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const slack = (text: string) => {
    const body = new URLSearchParams({ command: '/watchdog', text, user_id: 'U1', channel_id: 'C1', trigger_id: `t-${text}` }).toString();
    const ts = String(Math.floor(Date.now() / 1000));
    return webhook({
      rawPath: '/slack/commands',
      requestContext: { http: { method: 'POST' } },
      body,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': slackSignature('iam-slack', ts, body),
      },
    });
  };
  sim.add({ id: 'iam-api' });
  const webhookCalls = await record(async () => {
    const tracked = await api('POST', '/v1/executions', { connection: 'sg', externalId: 'iam-api' });
    expect(tracked.statusCode).toBe(201);
    const id = (JSON.parse(tracked.body) as { execution: { id: string } }).execution.id;
    expect((await api('POST', `/v1/executions/${id}/heartbeat`, { progress: { done: 1, total: 4 } })).statusCode).toBe(200);
    expect((await api('GET', `/v1/executions/${id}`)).statusCode).toBe(200);
    expect((await api('POST', `/v1/executions/${id}/finish`, {})).statusCode).toBe(200);
    for (const text of ['list', `status ${id}`, 'coverage', 'extend sg/iam-warned 30m', 'cancel sg/iam-warned']) {
      const r = await slack(text);
      expect(`${text}: ${r.statusCode}`).toBe(`${text}: 200`);
    }
  });
  // The recording saw the work it is about.
  expect(sweeperCalls).toEqual(expect.arrayContaining(['Query index due', 'BatchGetItem', 'PutItem']));
  expect(webhookCalls).toEqual(expect.arrayContaining(['GetItem', 'PutItem', 'Query index byState', 'BatchGetItem']));

  const configFile = process.env.WATCHDOG_CONFIG_FILE!;
  expect(JSON.parse(readFileSync(configFile, 'utf8'))).toHaveProperty('connections');
  const t = new EvaluatedTemplate(Template.fromStack(new WatchdogStack(new App(), 'Iam', { configFile })).toJSON() as CfnTemplate);
  expect(await allAllowed(t, 'WatchdogsweeperRole', sweeperCalls)).toEqual([]);
  expect(await allAllowed(t, 'WatchdogwebhookRole', webhookCalls)).toEqual([]);
  // And the check is live: a call no role grants is caught.
  expect(await allowed(t, 'WatchdogsweeperRole', 'DeleteItem')).toBe(false);
  expect(await allowed(t, 'WatchdogwebhookRole', 'Scan index byState')).toBe(false);
  expect(await allowed(t, 'WatchdogwebhookRole', 'UpdateItem key X#<execution>')).toBe(false);
  expect(await allowed(t, 'WatchdogwebhookRole', 'UpdateItem key P##ingest')).toBe(true);
}, 120_000);
