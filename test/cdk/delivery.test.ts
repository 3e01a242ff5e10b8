/**
 * Every service-to-resource edge of the synthesized template, evaluated by an IAM
 * policy-evaluation engine rather than read off properties: each alarm action → its topic
 * (the topic policy, or SNS's default where none) → the topic's key; the schedule → the
 * sweeper and its dead-letter queue; each function's failure destination; each queue →
 * its consumer; each function → its log group. An alarm that looks wired but that CloudWatch
 * may not publish through fails here, not in an incident.
 */
import { App, Stack, aws_cloudwatch as cw, aws_cloudwatch_actions as cwActions, aws_sns as sns } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { WatchdogStack } from '../../lib/watchdog-stack.js';
import { ACCOUNT, type CfnTemplate, EvaluatedTemplate, REGION, type Request, evaluate } from '../helpers/iam-eval.js';

interface Edge {
  what: string;
  request: Request;
  /** The calling role's logical id, for identity-based calls; service principals have none. */
  role?: string;
  /** The logical id of the resource whose own policy applies. */
  target?: string;
}

/** Every edge the template implies, by reading what AWS will do at run time. */
function edgesOf(t: EvaluatedTemplate): Edge[] {
  const edges: Edge[] = [];
  const str = (v: unknown) => String(v);
  for (const [id, p] of t.ofType('AWS::CloudWatch::Alarm')) {
    const alarmArn = t.att(id, 'Arn');
    const source = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': alarmArn };
    for (const action of [...((p.AlarmActions as unknown[]) ?? []), ...((p.OKActions as unknown[]) ?? [])]) {
      const topicId = t.idOf(str(action));
      const request = { principal: 'cloudwatch.amazonaws.com', action: 'sns:Publish', resource: str(action), context: source };
      edges.push({ what: `alarm ${id} → topic ${topicId ?? str(action)}`, request, ...(topicId ? { target: topicId } : {}) });
      const key = topicId ? t.resources[topicId]?.Properties?.KmsMasterKeyId : undefined;
      if (key !== undefined) {
        const keyId = t.idOf(str(key));
        for (const kmsAction of ['kms:GenerateDataKey', 'kms:Decrypt']) {
          edges.push({
            what: `alarm ${id} → key ${keyId ?? str(key)} (${kmsAction})`,
            request: { principal: 'cloudwatch.amazonaws.com', action: kmsAction, resource: keyId ? t.att(keyId, 'Arn') : str(key), context: source },
            // An AWS-managed key (alias/aws/sns) has a policy no one can extend: no target, implicitly denied.
            ...(keyId ? { target: keyId } : {}),
          });
        }
      }
    }
  }
  for (const [id, p] of t.ofType('AWS::Events::Rule')) {
    const ruleArn = t.att(id, 'Arn');
    const source = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': ruleArn };
    for (const target of (p.Targets as Array<{ Arn: string; DeadLetterConfig?: { Arn: string } }>) ?? []) {
      const fnId = t.idOf(target.Arn);
      edges.push({
        what: `rule ${id} → function ${fnId}`,
        request: { principal: 'events.amazonaws.com', action: 'lambda:InvokeFunction', resource: target.Arn, context: source },
        ...(fnId ? { target: fnId } : {}),
      });
      if (target.DeadLetterConfig) {
        const qId = t.idOf(target.DeadLetterConfig.Arn);
        edges.push({
          what: `rule ${id} → dead-letter queue ${qId}`,
          request: { principal: 'events.amazonaws.com', action: 'sqs:SendMessage', resource: target.DeadLetterConfig.Arn, context: source },
          ...(qId ? { target: qId } : {}),
        });
      }
    }
  }
  const roleOf = (fnRef: string) => {
    const fnId = t.idOf(fnRef)!;
    return { fnId, roleId: t.idOf(str(t.resources[fnId]!.Properties!.Role))! };
  };
  for (const [id, p] of t.ofType('AWS::Lambda::EventInvokeConfig')) {
    const { roleId } = roleOf(str(p.FunctionName));
    const dest = (p.DestinationConfig as { OnFailure?: { Destination: string } } | undefined)?.OnFailure?.Destination;
    if (dest?.includes(':sqs:')) {
      edges.push({
        what: `${id}: failure destination ${t.idOf(dest)}`,
        role: roleId,
        target: t.idOf(dest)!,
        request: { principal: t.att(roleId, 'Arn'), action: 'sqs:SendMessage', resource: dest },
      });
    }
  }
  for (const [id, p] of t.ofType('AWS::Lambda::EventSourceMapping')) {
    const { roleId } = roleOf(str(p.FunctionName));
    const queue = str(p.EventSourceArn);
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes']) {
      edges.push({
        what: `queue consumer ${id}: ${action}`,
        role: roleId,
        target: t.idOf(queue)!,
        request: { principal: t.att(roleId, 'Arn'), action, resource: queue },
      });
    }
  }
  for (const [id, p] of t.ofType('AWS::Lambda::Function')) {
    const roleId = t.idOf(str(p.Role))!;
    const logGroup = (p.LoggingConfig as { LogGroup?: string } | undefined)?.LogGroup;
    if (!logGroup) continue;
    const stream = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${logGroup}:log-stream:2026/12/05/[$LATEST]abc`;
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      edges.push({ what: `function ${id} → its log group (${action})`, role: roleId, request: { principal: t.att(roleId, 'Arn'), action, resource: stream } });
    }
  }
  return edges;
}

/** Each edge's verdict, "<what>: <verdict>". */
async function verdicts(template: CfnTemplate): Promise<string[]> {
  const t = new EvaluatedTemplate(template);
  const out: string[] = [];
  for (const e of edgesOf(t)) {
    const verdict = await evaluate(e.request, e.role ? t.identityPolicies(e.role) : [], e.target ? t.resourcePolicy(e.target) : undefined);
    out.push(`${e.what}: ${verdict}`);
  }
  return out;
}

describe('every edge of the synthesized template is allowed by the policies AWS evaluates', () => {
  let all: string[];
  beforeAll(async () => {
    const app = new App();
    const stack = new WatchdogStack(app, 'Delivery', { configFile: path.resolve('examples/watchdog.yaml'), alarmEmail: 'oncall@example.com' });
    all = await verdicts(Template.fromStack(stack).toJSON() as CfnTemplate);
  }, 120_000);

  it('each alarm can publish to its topic and use the topic key', () => {
    const alarms = all.filter((v) => v.startsWith('alarm '));
    // Every alarm, each with a topic edge and two key edges.
    expect(alarms.length).toBeGreaterThanOrEqual(3 * 20);
    expect(alarms.filter((v) => !v.endsWith(': Allowed'))).toEqual([]);
  });

  it('the schedule can invoke the sweeper and dead-letter; failure destinations and queue consumers are allowed; functions can log', () => {
    for (const kind of ['rule ', 'failure destination', 'queue consumer', 'log group']) expect(all.some((v) => v.includes(kind))).toBe(true);
    expect(all.filter((v) => !v.endsWith(': Allowed'))).toEqual([]);
  });

  it('the walk is live: a topic with only the SSL deny (what enforceSSL alone makes), or under the AWS-managed key, cannot receive alarms', async () => {
    const stack = new Stack(new App(), 'Broken');
    const m = new cw.Metric({ namespace: 'X', metricName: 'Y' });
    const sslOnly = new sns.Topic(stack, 'SslOnly', { enforceSSL: true });
    new cw.Alarm(stack, 'A', { metric: m, threshold: 1, evaluationPeriods: 1 }).addAlarmAction(new cwActions.SnsAction(sslOnly));
    const managed = new sns.Topic(stack, 'Managed', { masterKey: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:alias/aws/sns' } as never });
    new cw.Alarm(stack, 'B', { metric: m, threshold: 1, evaluationPeriods: 1 }).addAlarmAction(new cwActions.SnsAction(managed));
    const v = await verdicts(Template.fromStack(stack).toJSON() as CfnTemplate);
    expect(v.find((x) => x.startsWith('alarm A') && x.includes('→ topic'))).toMatch(/ImplicitlyDenied$/);
    expect(v.filter((x) => x.startsWith('alarm B') && x.includes('→ key')).every((x) => !x.endsWith(': Allowed'))).toBe(true);
    expect(v.filter((x) => x.startsWith('alarm B') && x.includes('→ key'))).toHaveLength(2);
  });
});
