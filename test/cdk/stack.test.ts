/**
 * The CDK stack, synthesized offline: resources, least-privilege IAM, schedule, Function
 * URL, alarms, dashboard, and a cdk-nag AwsSolutions run with nothing unacknowledged.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Validations, aws_sqs as sqs } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { WatchdogStack } from '../../lib/watchdog-stack.js';

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
        GlobalSecondaryIndexes: Match.arrayWith([Match.objectLike({ IndexName: 'due', KeySchema: [{ AttributeName: 'dueShard', KeyType: 'HASH' }, { AttributeName: 'dueAt', KeyType: 'RANGE' }] })]),
        Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: true })],
      }),
    });
  });

  it('functions: Node.js 22 on ARM64, config file in the bundle, no oversized environment', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    const ours = Object.values(fns).filter((f) => JSON.stringify(f).includes('WATCHDOG_CONFIG_FILE'));
    expect(ours).toHaveLength(2);
    for (const f of ours) {
      const p = (f as { Properties: { Runtime: string; Architectures: string[]; Environment: { Variables: Record<string, unknown> } } }).Properties;
      expect(p.Runtime).toBe('nodejs22.x');
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
    expect(actions([...sweeper, ...webhook]).filter((a) => a.startsWith('dynamodb:')).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Query', 'dynamodb:Query']);
  });

  it('alarms (errors, throttles, cancel failures, due lag, failed invocations) go to the SNS topic; a dashboard exists', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Array<{ Properties: { MetricName?: string; AlarmActions: unknown[]; Threshold: number } }>;
    const names = alarms.map((a) => a.Properties.MetricName);
    for (const m of ['Errors', 'Throttles', 'CancelFailures', 'DueLag', 'ApproximateNumberOfMessagesVisible']) expect(names).toContain(m);
    for (const a of alarms) expect(JSON.stringify(a.Properties.AlarmActions)).toContain('WatchdogAlarms');
    expect(alarms.find((a) => a.Properties.MetricName === 'DueLag')!.Properties.Threshold).toBe(120_000);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
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
});
