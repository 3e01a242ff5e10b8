/**
 * The CDK stack, synthesized offline: resources, least-privilege IAM, schedule, Function
 * URL, alarms, dashboard, and a cdk-nag AwsSolutions run with nothing unacknowledged.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { App, Duration, Stack, Validations, aws_dynamodb as ddb, aws_kms as kms, aws_sns as sns, aws_sqs as sqs } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunawayWatchdog } from '../../lib/runaway-watchdog.js';
import { WatchdogStack } from '../../lib/watchdog-stack.js';
import { ConfigError } from '../../src/errors.js';
import { METRICS_NAMESPACE, SweeperMetric, WebhookMetric } from '../../src/metrics.js';

const EXAMPLE = path.resolve('examples/watchdog.yaml');
let template: Template;

function stack(app = new App(), configFile = EXAMPLE): WatchdogStack {
  return new WatchdogStack(app, 'Test', { configFile, alarmEmail: 'oncall@example.com' });
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
function statementsOf(t: Template, roleLogicalIdPrefix: string): Statement[] {
  const policies = t.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(roleLogicalIdPrefix))
    .flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement);
}
const actions = (ss: Statement[]) => ss.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

describe('WatchdogStack', () => {
  beforeAll(() => {
    template = Template.fromStack(stack());
  }, 60_000);

  it('table: on-demand, PITR, TTL on expiresAt, the due and byState indexes, retained', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        GlobalSecondaryIndexes: Match.arrayWith([
          Match.objectLike({
            IndexName: 'due',
            KeySchema: [
              { AttributeName: 'dueShard', KeyType: 'HASH' },
              { AttributeName: 'dueAt', KeyType: 'RANGE' },
            ],
          }),
        ]),
        Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true })],
      }),
    });
  });

  it('functions: Node.js 24 on ARM64, config file in the bundle, no oversized environment', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    const ours = Object.values(fns).filter((f) => JSON.stringify(f).includes('WATCHDOG_CONFIG_FILE'));
    expect(ours).toHaveLength(3); // sweeper, webhook, follow-up worker
    for (const f of ours) {
      const p = (f as { Properties: { Runtime: string; Architectures: string[]; Environment: { Variables: Record<string, unknown> } } }).Properties;
      expect(p.Runtime).toBe('nodejs24.x');
      expect(p.Architectures).toEqual(['arm64']);
      expect(JSON.stringify(p.Environment.Variables).length).toBeLessThan(1024);
    }
  });

  it('the sweep runs on a 1-minute schedule; the webhook has a Function URL (auth in the handler)', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)', State: 'ENABLED' });
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE' });
  });

  it('IAM: no wildcard actions; each function reads only its own secrets and its table', () => {
    const sweeper = statementsOf(template, 'WatchdogsweeperRole');
    const webhook = statementsOf(template, 'WatchdogwebhookRole');
    for (const ss of [sweeper, webhook]) {
      expect(ss.length).toBeGreaterThan(0);
      for (const a of actions(ss)) expect(a).not.toMatch(/\*/);
    }
    const secretsOf = (ss: Statement[]) => JSON.stringify(ss.filter((s) => actions([s]).includes('secretsmanager:GetSecretValue')).map((s) => s.Resource));
    expect(secretsOf(sweeper)).toContain('secret:watchdog/catalyzed-??????');
    expect(secretsOf(sweeper)).toContain('secret:watchdog/slack-??????');
    expect(secretsOf(sweeper)).not.toContain('watchdog/hooks'); // inbound-only secrets stay with the webhook
    expect(secretsOf(sweeper)).not.toContain('watchdog/api');
    expect(secretsOf(webhook)).toContain('secret:watchdog/hooks-??????');
    expect(actions(sweeper)).not.toContain('dynamodb:Scan');
    expect(actions(sweeper)).not.toContain('dynamodb:DeleteItem');
    expect(
      actions([...sweeper, ...webhook])
        .filter((a) => a.startsWith('dynamodb:'))
        .sort(),
    ).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Query',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'dynamodb:UpdateItem', // the webhook's: only the ingest-fault record (dynamodb:LeadingKeys)
    ]);
    const webhookUpdate = webhook.find((s) => actions([s]).includes('dynamodb:UpdateItem')) as Statement & { Condition?: unknown };
    expect(webhookUpdate.Condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['P##ingest'] } });
  });

  it('alarms (errors, throttles, cancel failures, due lag, failed invocations) go to the SNS topic; a dashboard exists', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Array<{
      Properties: { MetricName?: string; AlarmActions: unknown[]; Threshold: number };
    }>;
    const names = alarms.map((a) => a.Properties.MetricName);
    for (const m of [
      'Errors',
      'Throttles',
      'CancelFailures',
      'DueLag',
      'NumberOfMessagesSent',
      'FollowUpsGivenUp',
      'NotificationFailures',
      'HeartbeatCancelsHeld',
      'SweepOverrun',
      'SweepCompleted',
      'SweepErrors',
      'Faults',
      'Quarantined',
      'ConnectionUnhealthy',
      'WebhookServerErrors',
    ])
      expect(names).toContain(m);
    for (const a of alarms) expect(JSON.stringify(a.Properties.AlarmActions)).toContain('WatchdogAlarms');
    expect(alarms.find((a) => a.Properties.MetricName === 'DueLag')!.Properties.Threshold).toBe(120_000);
    // Alarms on incidents: nothing watches a dead-letter queue's standing count (ALARM for 14 days after one message).
    expect(names).not.toContain('ApproximateNumberOfMessagesVisible');
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    // No fixed dashboard name: names are account-global (the same stack in a second region).
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'))).not.toContain('DashboardName');
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  it('fail loud: every alarm watches a metric the handlers emit; the sweeper stopping is an alarm (missing data breaches); one unhealthy-connection alarm per connection', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Array<{
      Properties: Record<string, unknown> & { MetricName?: string; Namespace?: string; Dimensions?: Array<{ Name: string; Value: string }> };
    }>;
    const emitted = new Set<string>([...Object.values(SweeperMetric), ...Object.values(WebhookMetric)]);
    for (const a of alarms.filter((x) => x.Properties.Namespace === METRICS_NAMESPACE))
      expect(emitted.has(a.Properties.MetricName!), a.Properties.MetricName).toBe(true);
    const stopped = alarms.find((a) => a.Properties.MetricName === 'SweepCompleted')!.Properties;
    expect(stopped).toMatchObject({ ComparisonOperator: 'LessThanThreshold', TreatMissingData: 'breaching', EvaluationPeriods: 3, Period: 60, Threshold: 1 });
    const unhealthy = alarms
      .filter((a) => a.Properties.MetricName === 'ConnectionUnhealthy')
      .map((a) => a.Properties.Dimensions!.find((d) => d.Name === 'connection')!.Value)
      .sort();
    expect(unhealthy).toEqual(['catalyzed-prod', 'ionworks-prod', 'kodexa-acme', 'meibel-prod', 'superglue-prod']);
    // A down connection does not flap between two probes: the period spans the probe interval and missing data keeps the state.
    const health = alarms.find((a) => a.Properties.MetricName === 'ConnectionUnhealthy')!.Properties;
    expect(health).toMatchObject({ TreatMissingData: 'ignore', Period: 11 * 60 });
    // One discovery alarm per connection that discovers (the example: catalyzed-prod only).
    const discovery = alarms
      .filter((a) => a.Properties.MetricName === 'DiscoveryIncomplete')
      .map((a) => a.Properties.Dimensions!.find((d) => d.Name === 'connection')!.Value);
    expect(discovery).toEqual(['catalyzed-prod']);
  });

  it('the alarm topic: a rotated customer-managed key (its delivery is proven in delivery.test.ts)', () => {
    const keys = Object.values(template.findResources('AWS::KMS::Key')) as Array<{ Properties: { EnableKeyRotation: boolean } }>;
    expect(keys).toHaveLength(1);
    expect(keys[0]!.Properties.EnableKeyRotation).toBe(true);
  });

  it('reserved concurrency is opt-in (it needs an account quota of 100 + the reservations); a failed sweep invocation goes to the alarmed queue; the follow-up consumer is bounded apart', () => {
    const reservedOf = (t: Template) =>
      Object.entries(t.findResources('AWS::Lambda::Function'))
        .filter(([, f]) => JSON.stringify(f).includes('WATCHDOG_CONFIG_FILE'))
        .map(
          ([id, f]) =>
            `${id.replace(/[0-9A-F]{8}$/, '')}:${(f as { Properties: { ReservedConcurrentExecutions?: number } }).Properties.ReservedConcurrentExecutions ?? '-'}`,
        )
        .sort();
    expect(reservedOf(template)).toEqual(['WatchdogFollowUpWorker:-', 'WatchdogSweeper:-', 'WatchdogWebhook:-']);
    const opted = Template.fromStack(new WatchdogStack(new App(), 'Opted', { configFile: EXAMPLE, sweeperConcurrency: 1, webhookConcurrency: 10 }));
    expect(reservedOf(opted)).toEqual(['WatchdogFollowUpWorker:-', 'WatchdogSweeper:1', 'WatchdogWebhook:10']);
    const esm = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0] as {
      Properties: { FunctionName: unknown; ScalingConfig: unknown };
    };
    expect(JSON.stringify(esm.Properties.FunctionName)).toContain('FollowUpWorker');
    expect(esm.Properties.ScalingConfig).toEqual({ MaximumConcurrency: 2 });
    const worker = Object.entries(template.findResources('AWS::Lambda::Function')).find(([id]) => id.includes('FollowUpWorker'))![1] as {
      Properties: { Timeout: number };
    };
    const queue = Object.entries(template.findResources('AWS::SQS::Queue')).find(([id]) => id.startsWith('WatchdogFollowUps'))![1] as {
      Properties: { VisibilityTimeout: number };
    };
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(worker.Properties.Timeout);
    const cfg = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig'))[0] as {
      Properties: { MaximumRetryAttempts: number; DestinationConfig: { OnFailure: { Destination: unknown } } };
    };
    expect(cfg.Properties.MaximumRetryAttempts).toBe(0);
    expect(JSON.stringify(cfg.Properties.DestinationConfig.OnFailure.Destination)).toContain('SweepDeadLetters');
  });

  it('secrets named by ARN get grants that match them; customer-managed secret keys get kms:Decrypt', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cdk-arn-'));
    const file = path.join(dir, 'arn.yaml');
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/kodexa';
    writeFileSync(
      file,
      `connections: { k: { provider: kodexa, baseUrl: "https://k.example", secret: "${arn}" } }\npolicies: [{ name: default, maxRuntime: 1h }]\n`,
    );
    const app = new App();
    const s = new WatchdogStack(app, 'Arn', { configFile: file });
    const key = new kms.Key(s, 'SecretsKey');
    const s2 = new WatchdogStack(new App(), 'Arn2', {
      configFile: file,
      secretsKeys: [kms.Key.fromKeyArn(s, 'Imported', 'arn:aws:kms:eu-west-1:123456789012:key/abcd')],
    });
    void key;
    const t = Template.fromStack(s);
    const res = JSON.stringify(
      statementsOf(t, 'WatchdogsweeperRole')
        .filter((st) => actions([st]).includes('secretsmanager:GetSecretValue'))
        .map((st) => st.Resource),
    );
    expect(res).toContain(`"${arn}"`);
    expect(res).toContain(`"${arn}-??????"`);
    expect(res).not.toContain(`secret:${arn}`);
    const t2 = Template.fromStack(s2);
    expect(actions(statementsOf(t2, 'WatchdogsweeperRole'))).toContain('kms:Decrypt');
    expect(actions(statementsOf(t2, 'WatchdogwebhookRole'))).toContain('kms:Decrypt');
  });

  it('cdk-nag AwsSolutions: zero unacknowledged findings, and the check is live (a bad resource fails synth)', () => {
    const app = new App({ outdir: mkdtempSync(path.join(os.tmpdir(), 'cdk-nag-')) });
    stack(app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();

    const bad = new App({ outdir: mkdtempSync(path.join(os.tmpdir(), 'cdk-nag-bad-')) });
    const s = stack(bad);
    new sqs.Queue(s, 'Plain');
    Validations.of(bad).addPlugins(new AwsSolutionsChecks(bad));
    expect(() => bad.synth()).toThrow();
  }, 60_000);

  it('a bad config fails synth with the same messages as `watchdog config validate`', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cdk-bad-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'connections: {}\npolicies: [{ name: default, maxRuntime: soon }]\n');
    expect(() => stack(new App(), file)).toThrow(/policies\[0\]\.maxRuntime: expected a duration like "45m", got "soon"/);
  });

  it('synth without a config, or with a missing file, fails with one line saying how to pass one', async () => {
    const run = promisify(execFile);
    const app = async (env: Record<string, string>) => {
      try {
        await run(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
          env: { ...process.env, WATCHDOG_CONFIG: '', CDK_CONTEXT_JSON: '{}', CDK_OUTDIR: mkdtempSync(path.join(os.tmpdir(), 'cdk-out-')), ...env },
        });
        return { code: 0, stderr: '' };
      } catch (err) {
        return err as { code: number; stderr: string };
      }
    };
    const none = await app({});
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')).toEqual([
      'watchdog: no config: pass -c config=<your watchdog.yaml> on every cdk command, bootstrap included (or set WATCHDOG_CONFIG); start from the deploy template examples/watchdog.yaml',
    ]);
    const missing = await app({ CDK_CONTEXT_JSON: JSON.stringify({ config: 'nope.yaml' }) });
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toEqual(['watchdog: config nope.yaml: cannot read nope.yaml: no such file']);
  }, 60_000);

  it('synth refuses, one line each, what the deployed shape cannot honour; the config schema refuses a schedule EventBridge cannot express', () => {
    const refused = (props: Partial<ConstructorParameters<typeof WatchdogStack>[2]>) => {
      try {
        new WatchdogStack(new App(), 'Refused', { configFile: EXAMPLE, ...props });
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return [...(err as ConfigError).problems];
      }
    };
    expect(refused({ sweepEvery: Duration.seconds(30) })).toEqual([
      'sweepEvery: 30 seconds: must be a whole number of minutes (EventBridge schedules are minute-granular)',
    ]);
    expect(refused({ sweepEvery: Duration.seconds(90), sweepTimeout: Duration.minutes(20), webhookConcurrency: 0, memorySize: 64 })).toEqual([
      'sweepEvery: 1 minute 30 seconds: must be a whole number of minutes (EventBridge schedules are minute-granular)',
      "sweepTimeout: 20 minutes: Lambda's longest timeout is 15 minutes",
      'webhookConcurrency: 0: must be a whole number ≥ 1, or left out (no reservation)',
      'memorySize: 64: Lambda takes 128 to 10240 MB',
    ]);
    expect(refused({ sweepTimeout: Duration.seconds(30) })).toEqual([
      'sweepTimeout: 30 seconds: must be at least 1 minute (the sweep keeps 30 s in reserve to record outcomes)',
    ]);
    expect(refused({ sweepEvery: Duration.minutes(2), sweepTimeout: Duration.minutes(15) })).toEqual([]);
    // Continuous sweeps (the default) stay awake for the whole schedule.
    expect(refused({ sweepEvery: Duration.minutes(5), sweepTimeout: Duration.minutes(5) })).toEqual([
      'sweepTimeout: 5 minutes: continuous sweeps (settings.sweepMode) stay awake for the whole schedule: give at least sweepEvery + 30 s (5 minutes 30 seconds), or sweepMode: scheduled',
    ]);
    // The config's own schedule: refused by `watchdog config validate` already, not first at synth.
    expect(
      () =>
        new WatchdogStack(new App(), 'Cfg', {
          config: { settings: { sweepEvery: '90s' }, connections: {}, policies: [{ name: 'default', maxRuntime: '1h' }] },
        }),
    ).toThrow(/settings\.sweepEvery: must be a whole number of minutes/);
  });

  it('a team overrides what it owns: config as an object, its own table or table settings, its own alarm topic, memory', () => {
    const config = {
      connections: { kx: { provider: 'kodexa', baseUrl: 'https://k.example.com', secret: 'team/kx' } },
      policies: [{ name: 'default', maxRuntime: '2h' }],
    };
    const app = new App();
    const own = new Stack(app, 'Own');
    const table = new ddb.TableV2(own, 'TeamTable', {
      partitionKey: { name: 'pk', type: ddb.AttributeType.STRING },
      sortKey: { name: 'sk', type: ddb.AttributeType.STRING },
    });
    const topic = new sns.Topic(own, 'TeamAlarms');
    const wd = new RunawayWatchdog(own, 'Wd', { config, existingTable: table, alarmTopic: topic, memorySize: 1024 });
    expect(wd.table).toBe(table);
    expect(wd.alarmTopic).toBe(topic);
    const t = Template.fromStack(own);
    t.resourceCountIs('AWS::DynamoDB::GlobalTable', 1); // the team's only
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.resourceCountIs('AWS::KMS::Key', 0);
    t.allResourcesProperties('AWS::Lambda::Function', { MemorySize: 1024 });
    expect(Object.values(t.findResources('AWS::CloudWatch::Alarm')).every((a) => JSON.stringify(a).includes('TeamAlarms'))).toBe(true);

    const named = new Stack(new App(), 'Named');
    new RunawayWatchdog(named, 'Wd', { config, tableProps: { tableName: 'team-watchdog', deletionProtection: false } });
    Template.fromStack(named).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'team-watchdog',
      GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: 'due', Projection: { ProjectionType: 'KEYS_ONLY' } })]),
    });

    expect(() => new RunawayWatchdog(new Stack(new App(), 'Both'), 'Wd', { config, configFile: EXAMPLE })).toThrow(/exactly one of configFile/);
    expect(() => new RunawayWatchdog(new Stack(new App(), 'Bad'), 'Wd', { config: { policies: [{ name: 'x', maxRuntime: 'soon' }] } })).toThrow(ConfigError);
  });
});

describe('RunawayWatchdog: what a team wires next, and a template not filled in', () => {
  it('outputs the webhook URL, the table and the alarm topic from the construct itself (opt out with outputs: false)', () => {
    const app = new App();
    const own = new Stack(app, 'TeamStack');
    const config = {
      connections: { kx: { provider: 'kodexa', baseUrl: 'https://kodexa.example.com', secret: 'k' } },
      policies: [{ name: 'default', maxRuntime: '1h' }],
    };
    new RunawayWatchdog(own, 'Watchdog', { config });
    const outputs = Object.keys(Template.fromStack(own).toJSON().Outputs as Record<string, unknown>);
    expect(outputs.map((k) => k.replace(/[0-9A-F]{8}$/, ''))).toEqual(['WatchdogWebhookUrl', 'WatchdogTableName', 'WatchdogAlarmTopicArn']);
    expect(Annotations.fromStack(own).findWarning('*', Match.stringLikeRegexp('placeholder'))).toEqual([]);
    const quiet = new Stack(new App(), 'Quiet');
    new RunawayWatchdog(quiet, 'Watchdog', { config, outputs: false });
    expect(Template.fromStack(quiet).toJSON().Outputs).toBeUndefined();
  });

  it('the deploy template as is synthesizes with one warning naming every placeholder', () => {
    const s = stack();
    const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('placeholders are not filled in'));
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toContain('connections.kodexa-acme.baseUrl: \\"https://REPLACE-ME.invalid\\"');
  });
});
