/**
 * The synthesized template, evaluated the way AWS evaluates it: intrinsic functions resolved
 * to concrete ARNs in one account and region, then each request (a principal, an action, a
 * resource, the context AWS adds) run through a real IAM policy-evaluation engine
 * (@cloud-copilot/iam-simulate) against the identity policies of the calling role and the
 * resource's own policy (topic, queue, key, function permissions). "Wired" means "allowed".
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
const PARTITION = 'aws';

type Json = unknown;
export interface CfnResource {
  Type: string;
  Properties?: Record<string, Json>;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
}
type PolicyDocument = { Version?: string; Statement: Array<Record<string, Json>> };

const arn = (service: string, resource: string, region = REGION) => `arn:${PARTITION}:${service}:${region}:${ACCOUNT}:${resource}`;

/** The value of `Ref` and of each `Fn::GetAtt` for a resource, by type, as CloudFormation would return them. */
function attributes(id: string, r: CfnResource): { ref: string; att: Record<string, string> } {
  const p = r.Properties ?? {};
  switch (r.Type) {
    case 'AWS::SNS::Topic':
      return { ref: arn('sns', id), att: { TopicArn: arn('sns', id), TopicName: id } };
    case 'AWS::SQS::Queue':
      return {
        ref: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`,
        att: { Arn: arn('sqs', id), QueueName: id, QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}` },
      };
    case 'AWS::KMS::Key':
      return { ref: `key-${id}`, att: { Arn: arn('kms', `key/key-${id}`), KeyId: `key-${id}` } };
    case 'AWS::Lambda::Function':
      return { ref: id, att: { Arn: arn('lambda', `function:${id}`) } };
    case 'AWS::DynamoDB::GlobalTable':
    case 'AWS::DynamoDB::Table': {
      const name = typeof p.TableName === 'string' ? p.TableName : id;
      return { ref: name, att: { Arn: arn('dynamodb', `table/${name}`), StreamArn: arn('dynamodb', `table/${name}/stream/x`) } };
    }
    case 'AWS::Events::Rule':
      return { ref: id, att: { Arn: arn('events', `rule/${id}`) } };
    case 'AWS::CloudWatch::Alarm':
      return { ref: id, att: { Arn: arn('cloudwatch', `alarm:${id}`) } };
    case 'AWS::IAM::Role':
      return { ref: id, att: { Arn: `arn:${PARTITION}:iam::${ACCOUNT}:role/${id}`, RoleId: `AROA${id}` } };
    case 'AWS::Logs::LogGroup':
      return { ref: id, att: { Arn: arn('logs', `log-group:${id}:*`) } };
    case 'AWS::Lambda::Url':
      return { ref: id, att: { FunctionUrl: `https://${id}.lambda-url.${REGION}.on.aws/` } };
    default:
      return { ref: id, att: { Arn: arn('unknown', id) } };
  }
}

/** Resolve Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split and the pseudo parameters. */
export function resolver(t: CfnTemplate): (v: Json) => Json {
  const pseudo: Record<string, string> = {
    'AWS::AccountId': ACCOUNT,
    'AWS::Region': REGION,
    'AWS::Partition': PARTITION,
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'Stack',
    'AWS::NoValue': '',
  };
  const resolve = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, Json>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys as [string];
      const a = o[k];
      if (k === 'Ref') {
        const name = a as string;
        if (Object.hasOwn(pseudo, name)) return pseudo[name];
        const r = t.Resources[name];
        if (!r) throw new Error(`Ref to unknown ${name}`);
        return attributes(name, r).ref;
      }
      if (k === 'Fn::GetAtt') {
        const [name, att] = (typeof a === 'string' ? a.split('.') : a) as [string, string];
        const r = t.Resources[name];
        if (!r) throw new Error(`GetAtt of unknown ${name}`);
        const value = attributes(name, r).att[att];
        if (value === undefined) throw new Error(`GetAtt ${name}.${att}: not modelled`);
        return value;
      }
      if (k === 'Fn::Join') {
        const [sep, parts] = a as [string, Json[]];
        return (resolve(parts) as Json[]).map(String).join(sep);
      }
      if (k === 'Fn::Select') {
        const [i, list] = a as [Json, Json];
        return (resolve(list) as Json[])[Number(resolve(i))];
      }
      if (k === 'Fn::Split') {
        const [sep, s] = a as [string, Json];
        return String(resolve(s)).split(sep);
      }
    }
    return Object.fromEntries(keys.map((key) => [key, resolve(o[key])]));
  };
  return resolve;
}

export interface Request {
  principal: string;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
}

/** One request through the engine: 'Allowed', or the engine's verdict ('ImplicitlyDenied', 'ExplicitlyDenied', or validation errors). */
export async function evaluate(req: Request, identityPolicies: PolicyDocument[], resourcePolicy: PolicyDocument | undefined): Promise<string> {
  const r = await runSimulation(
    {
      identityPolicies: identityPolicies.map((policy, i) => ({ name: `p${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
      request: {
        action: req.action,
        principal: req.principal,
        resource: { accountId: ACCOUNT, resource: req.resource },
        contextVariables: { 'aws:SecureTransport': 'true', ...req.context },
      },
    },
    {},
  );
  if (r.resultType === 'error') return `invalid: ${JSON.stringify(r.errors).slice(0, 300)}`;
  return r.overallResult;
}

/** The template with every value resolved, and the policies that apply to each resource. */
export class EvaluatedTemplate {
  readonly resources: Record<string, CfnResource>;
  constructor(t: CfnTemplate) {
    const resolve = resolver(t);
    this.resources = Object.fromEntries(
      Object.entries(t.Resources).map(([id, r]) => [id, { Type: r.Type, Properties: resolve(r.Properties ?? {}) as Record<string, Json> }]),
    );
    this.raw = t;
  }
  private readonly raw: CfnTemplate;

  ofType(type: string): Array<[string, Record<string, Json>]> {
    return Object.entries(this.resources)
      .filter(([, r]) => r.Type === type)
      .map(([id, r]) => [id, r.Properties ?? {}]);
  }

  /** Ref / GetAtt of a resource by logical id. */
  ref(id: string): string {
    return attributes(id, this.raw.Resources[id]!).ref;
  }
  att(id: string, name: string): string {
    return attributes(id, this.raw.Resources[id]!).att[name]!;
  }

  /** The logical id whose Ref or any attribute equals `value`. */
  idOf(value: string): string | undefined {
    return Object.entries(this.raw.Resources).find(([id, r]) => {
      const a = attributes(id, r);
      return a.ref === value || Object.values(a.att).includes(value);
    })?.[0];
  }

  /** The identity policies attached to a role (inline AWS::IAM::Policy resources and the role's own Policies). */
  identityPolicies(roleId: string): PolicyDocument[] {
    const roleName = this.ref(roleId);
    const attached = this.ofType('AWS::IAM::Policy')
      .filter(([, p]) => (p.Roles as string[] | undefined)?.includes(roleName))
      .map(([, p]) => p.PolicyDocument as PolicyDocument);
    const inline = ((this.resources[roleId]?.Properties?.Policies as Array<{ PolicyDocument: PolicyDocument }> | undefined) ?? []).map((p) => p.PolicyDocument);
    return [...attached, ...inline];
  }

  /**
   * The resource policy AWS evaluates for a resource: an SNS topic's TopicPolicy (which
   * replaces SNS's default policy) or that default; a queue's QueuePolicy; a key's KeyPolicy;
   * a function's AWS::Lambda::Permission resources, as Lambda composes them.
   */
  resourcePolicy(id: string): PolicyDocument | undefined {
    const r = this.resources[id]!;
    const p = r.Properties ?? {};
    if (r.Type === 'AWS::SNS::Topic') {
      const topicArn = this.ref(id);
      const policies = this.ofType('AWS::SNS::TopicPolicy').filter(([, tp]) => (tp.Topics as string[]).includes(topicArn));
      if (policies.length > 1) throw new Error(`topic ${id} has ${policies.length} topic policies: the last one deployed wins`);
      if (policies.length === 1) return policies[0]![1].PolicyDocument as PolicyDocument;
      // SNS's default topic policy: the owning account's principals, by aws:SourceOwner.
      return {
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: ['SNS:Publish', 'SNS:Subscribe', 'SNS:GetTopicAttributes'],
            Resource: topicArn,
            Condition: { StringEquals: { 'AWS:SourceOwner': ACCOUNT } },
          },
        ],
      };
    }
    if (r.Type === 'AWS::SQS::Queue') {
      const url = this.ref(id);
      const policies = this.ofType('AWS::SQS::QueuePolicy').filter(([, qp]) => (qp.Queues as string[]).includes(url));
      return policies.length ? { Statement: policies.flatMap(([, qp]) => (qp.PolicyDocument as PolicyDocument).Statement) } : undefined;
    }
    if (r.Type === 'AWS::KMS::Key') return p.KeyPolicy as PolicyDocument;
    if (r.Type === 'AWS::Lambda::Function') {
      const fnArn = this.att(id, 'Arn');
      const perms = this.ofType('AWS::Lambda::Permission').filter(([, lp]) => lp.FunctionName === fnArn || lp.FunctionName === this.ref(id));
      if (perms.length === 0) return undefined;
      return {
        Statement: perms.map(([, lp]) => {
          const principal = String(lp.Principal);
          const cond: Record<string, Record<string, string>> = {};
          if (typeof lp.SourceArn === 'string') cond.ArnLike = { 'aws:SourceArn': lp.SourceArn };
          if (typeof lp.SourceAccount === 'string') cond.StringEquals = { 'aws:SourceAccount': lp.SourceAccount };
          return {
            Effect: 'Allow',
            Principal: principal === '*' ? '*' : principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
            Action: String(lp.Action),
            Resource: fnArn,
            ...(Object.keys(cond).length ? { Condition: cond } : {}),
          };
        }),
      };
    }
    return undefined;
  }
}
