/**
 * RunawayWatchdog: the whole watchdog as one L3 construct.
 *
 * The table (on-demand, PITR, TTL, the sparse due index), the sweeper on an EventBridge
 * schedule, the webhook behind a Function URL, read-only grants on exactly the secrets
 * each function uses, alarms to an SNS topic, a dashboard, log retention. The policy
 * config travels inside each bundle as a JSON file (no 4 KB environment limit).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Arn,
  ArnFormat,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
  aws_cloudwatch as cw,
  aws_cloudwatch_actions as cwActions,
  aws_dynamodb as ddb,
  aws_events as events,
  aws_events_targets as targets,
  aws_iam as iam,
  aws_kms as kms,
  aws_lambda as lambda,
  aws_lambda_destinations as destinations,
  aws_lambda_event_sources as eventSources,
  aws_lambda_nodejs as nodejs,
  aws_logs as logs,
  aws_sns as sns,
  aws_sns_subscriptions as subs,
  aws_sqs as sqs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { parseConfigText } from '../src/config/file.js';
import { type WatchdogConfig, compileConfig, deployableRaw } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import {
  CONNECTION_DIMENSION,
  ENV,
  METRICS_NAMESPACE,
  SERVICE_DIMENSION,
  SWEEPER_SERVICE,
  SweeperMetric,
  WEBHOOK_SERVICE,
  WebhookMetric,
} from '../src/metrics.js';
import { INGEST_KEY, ledgerPartitionKey } from '../src/store/probes.js';
import { INDEXES, type KeyType, TABLE, TABLE_KEYS } from '../src/store/table.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
/**
 * In the npm package the handlers come pre-bundled by `npm run build` (dist/assets): a team's
 * synth needs no esbuild and no TypeScript sources. From this repository's sources they are
 * bundled at synth (NodejsFunction).
 */
const PREBUILT = path.resolve(HERE, '..', 'assets');

export interface RunawayWatchdogProps {
  /**
   * The watchdog config file (YAML or JSON), the same one `watchdog config validate` checks.
   * Give this or `config`.
   */
  readonly configFile?: string;
  /** The config as an object (the file's content, parsed): validated by the same schema at synth. */
  readonly config?: unknown;
  /**
   * A table you own instead of the one this construct creates. It must have the watchdog's
   * keys and indexes (`INDEXES` in this package; `watchdog doctor` checks them) and TTL on
   * `expiresAt`. Default: a new on-demand table with point-in-time recovery.
   */
  readonly existingTable?: ddb.ITableV2;
  /**
   * Overrides for the table this construct creates (name, billing, encryption, tags, …);
   * keys, indexes and TTL stay the watchdog's. Default: on-demand, PITR, deletion protection.
   */
  readonly tableProps?: Partial<Omit<ddb.TablePropsV2, 'partitionKey' | 'sortKey' | 'globalSecondaryIndexes' | 'timeToLiveAttribute'>>;
  /** Send alarms to this topic instead of one the construct creates (with its KMS key). */
  readonly alarmTopic?: sns.ITopic;
  /** How often the sweep runs. Default: the config's settings.sweepEvery (1 minute). */
  readonly sweepEvery?: Duration;
  /** Email address subscribed to the alarm topic. Default: none (subscribe yourself). */
  readonly alarmEmail?: string;
  /** What happens to the (created) table when the stack is deleted. Default: RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection. Default: true. */
  readonly deletionProtection?: boolean;
  /** Log retention of both functions. Default: one month. */
  readonly logRetention?: logs.RetentionDays;
  /** Sweeper timeout; the sweep stops claiming new work 30 s before it. Default: 5 minutes. */
  readonly sweepTimeout?: Duration;
  /** Memory of both functions in MB. Default: 512. */
  readonly memorySize?: number;
  /**
   * Reserved concurrency of the webhook: a flood on its public URL cannot take the account's
   * whole concurrency (the sweeper always keeps its own 1). Default: 10. The account must keep
   * at least 10 unreserved (new accounts with a quota of 10 must raise it first).
   */
  readonly webhookConcurrency?: number;
  /** Customer-managed KMS keys that encrypt the secrets: both functions get kms:Decrypt on them. Default: none (the AWS-managed key). */
  readonly secretsKeys?: kms.IKey[];
}

/** The ESM bundles' banner: a `require` for the CommonJS dependencies esbuild inlines. */
export const LAMBDA_BANNER = "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);";

/** A pre-built bundle and the config, in one asset folder. */
function stage(bundleDir: string, configDir: string, name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `watchdog-${name}-`));
  for (const f of readdirSync(bundleDir)) copyFileSync(path.join(bundleDir, f), path.join(dir, f));
  copyFileSync(path.join(configDir, 'watchdog.config.json'), path.join(dir, 'watchdog.config.json'));
  return dir;
}

/** The config for Lambda: validated here, local-only settings removed. */
export function deployableConfig(source: string | { config: unknown }): { config: WatchdogConfig; json: string } {
  if (typeof source !== 'string') {
    const config = compileConfig(source.config);
    return { config, json: JSON.stringify(deployableRaw(source.config)) };
  }
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${source}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`]);
  }
  const raw = parseConfigText(text, source);
  const config = compileConfig(raw, path.dirname(path.resolve(source)));
  // Lambda reads Secrets Manager, never a local file, and has no data dir.
  return { config, json: JSON.stringify(deployableRaw(raw)) };
}

/**
 * The IAM resources that match a secret given by name or by ARN. Secrets Manager appends
 * "-" and six random characters to a secret's ARN: a name matches `<name>-??????`; a full
 * ARN matches itself; a partial ARN (no suffix) matches `<arn>-??????`. An ARN is granted
 * both ways, since whether its tail is the random suffix cannot be told from the text.
 */
export function secretResources(name: string, stack: Stack): string[] {
  if (name.startsWith('arn:')) return [name, `${name}-??????`];
  return [Arn.format({ service: 'secretsmanager', resource: 'secret', resourceName: `${name}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack)];
}

/** Secret names each function needs: the sweeper cancels and notifies; the webhook also verifies. */
export function secretNames(config: WatchdogConfig): { sweeper: string[]; webhook: string[] } {
  const providers = [...config.connections.values()].map((c) => c.secret);
  const notify = [...config.notify.values()].map((t) => (t.type === 'slack' ? t.tokenSecret : t.secret));
  const w = config.webhook;
  const inbound = [w.slack?.secret, w.discord?.secret, w.teams?.secret, w.hooks?.secret, ...w.apiKeys.map((k) => k.secret)].filter(
    (s): s is string => s !== undefined,
  );
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  return { sweeper: uniq([...providers, ...notify]), webhook: uniq([...providers, ...notify, ...inbound]) };
}

export class RunawayWatchdog extends Construct {
  readonly table: ddb.ITableV2;
  readonly sweeper: lambda.Function;
  readonly webhook: lambda.Function;
  readonly webhookUrl: lambda.FunctionUrl;
  readonly alarmTopic: sns.ITopic;
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: RunawayWatchdogProps) {
    super(scope, id);
    if ((props.configFile === undefined) === (props.config === undefined)) {
      throw new ConfigError(['RunawayWatchdog: give exactly one of configFile (a path) and config (an object)']);
    }
    const { config, json } = deployableConfig(props.configFile ?? { config: props.config });
    const stack = Stack.of(this);
    const sweepEvery = props.sweepEvery ?? Duration.millis(config.settings.sweepEveryMs);
    const configDir = mkdtempSync(path.join(os.tmpdir(), 'watchdog-config-'));
    writeFileSync(path.join(configDir, 'watchdog.config.json'), json);

    const attr = (k: { name: string; type: KeyType }) => ({ name: k.name, type: k.type === 'S' ? ddb.AttributeType.STRING : ddb.AttributeType.NUMBER });
    this.table =
      props.existingTable ??
      new ddb.TableV2(this, 'Table', {
        billing: ddb.Billing.onDemand(),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: props.deletionProtection ?? true,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
        ...props.tableProps,
        partitionKey: attr(TABLE_KEYS.partitionKey),
        sortKey: attr(TABLE_KEYS.sortKey),
        timeToLiveAttribute: TABLE.ttl,
        // The store's own definition (src/store/table.ts): keys, and what each index projects.
        globalSecondaryIndexes: INDEXES.map((i) => ({
          indexName: i.name,
          partitionKey: attr(i.partitionKey),
          sortKey: attr(i.sortKey),
          projectionType: i.projection === 'KEYS_ONLY' ? ddb.ProjectionType.KEYS_ONLY : ddb.ProjectionType.INCLUDE,
          ...(i.include ? { nonKeyAttributes: [...i.include] } : {}),
        })),
      });

    const makeFunction = (name: 'sweeper' | 'webhook', timeout: Duration, reservedConcurrentExecutions: number): lambda.Function => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new iam.Role(this, `${name}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `Runaway Watchdog ${name}` });
      const common = {
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.memorySize ?? 512,
        timeout,
        reservedConcurrentExecutions,
        role,
        logGroup,
        environment: {
          [ENV.table]: this.table.tableName,
          [ENV.configFile]: '/var/task/watchdog.config.json',
          [ENV.metricsNamespace]: METRICS_NAMESPACE,
          // `watchdog doctor` compares it with the local file: the deployed config is the one you think.
          [ENV.configHash]: config.sha256,
          NODE_OPTIONS: '--enable-source-maps',
        },
      };
      const id = name === 'sweeper' ? 'Sweeper' : 'Webhook';
      const prebuilt = path.join(PREBUILT, name);
      const fn = existsSync(path.join(prebuilt, 'index.mjs'))
        ? new lambda.Function(this, id, { ...common, handler: 'index.handler', code: lambda.Code.fromAsset(stage(prebuilt, configDir, name)) })
        : new nodejs.NodejsFunction(this, id, {
            ...common,
            entry: path.join(ROOT, 'lambdas', `${name}.ts`),
            bundling: {
              forceDockerBundling: false,
              minify: true,
              sourceMap: true,
              target: 'node24',
              format: nodejs.OutputFormat.ESM,
              mainFields: ['module', 'main'],
              banner: LAMBDA_BANNER,
              // The Node.js 24 runtime ships AWS SDK v3: keep it out of the bundle.
              externalModules: ['@aws-sdk/*', '@smithy/*'],
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_in: string, outputDir: string) => [
                  `cp ${JSON.stringify(path.join(configDir, 'watchdog.config.json'))} ${JSON.stringify(outputDir)}/`,
                ],
              },
            },
          });
      logGroup.grantWrite(role);
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::<' + stack.getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup) + '.Arn>:*]',
        reason: "Log streams are created at run time inside this function's own log group; the wildcard is the stream name only.",
      });
      return fn;
    };

    // One sweep at a time, never starved by the webhook; the webhook capped so a flood on its
    // public URL cannot take the account's concurrency.
    this.sweeper = makeFunction('sweeper', props.sweepTimeout ?? Duration.minutes(5), 1);
    this.webhook = makeFunction('webhook', Duration.seconds(15), props.webhookConcurrency ?? 10);

    // Least privilege on the table: items and the two indexes by name; no Scan, no Delete.
    const indexArn = (name: string) => `${this.table.tableArn}/index/${name}`;
    // UpdateItem: quarantining an unreadable item and the probe ledger (single-attribute updates).
    // BatchGetItem: the indexes hold keys only; the items they point to are read in batches.
    this.sweeper.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
    );
    // Query: the due index (work), the state index (the safety net's other path to work).
    this.sweeper.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [indexArn(TABLE.dueIndex), indexArn(TABLE.stateIndex)] }));
    this.webhook.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
        resources: [this.table.tableArn],
      }),
    );
    this.webhook.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [indexArn(TABLE.stateIndex)] }));
    // One UpdateItem, on one item only: the ledger's record that tracking requests failed on the
    // watchdog's side (the sweep then holds lost-heartbeat cancels).
    this.webhook.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [ledgerPartitionKey(INGEST_KEY)] } },
      }),
    );

    const names = secretNames(config);
    for (const [fn, list] of [
      [this.sweeper, names.sweeper],
      [this.webhook, names.webhook],
    ] as const) {
      if (list.length === 0) continue;
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: list.flatMap((n) => secretResources(n, stack)) }));
      for (const name of list) {
        const wildcard = name.startsWith('arn:')
          ? `${name}-??????`
          : `arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${name}-??????`;
        Validations.of(fn.role as iam.Role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${wildcard}]`,
          reason: `Secrets Manager appends six random characters to a secret's ARN; "${name}-??????" matches exactly that one secret, read-only.`,
        });
      }
      for (const key of props.secretsKeys ?? []) key.grantDecrypt(fn);
    }

    // The sweep on a schedule; a failed asynchronous invocation lands in a DLQ with an alarm.
    const dlq = new sqs.Queue(this, 'SweepDeadLetters', { enforceSSL: true, encryption: sqs.QueueEncryption.SQS_MANAGED, retentionPeriod: Duration.days(14) });
    Validations.of(dlq).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter queue of the sweep schedule.' });
    new events.Rule(this, 'SweepSchedule', {
      schedule: events.Schedule.rate(sweepEvery),
      description: 'Runaway Watchdog sweep',
      targets: [new targets.LambdaFunction(this.sweeper, { retryAttempts: 0, deadLetterQueue: dlq })],
    });
    // A sweep that fails as a whole is not retried (the next one comes within a minute) but
    // never dropped: it lands in the dead-letter queue, which is alarmed.
    this.sweeper.configureAsyncInvoke({ retryAttempts: 0, onFailure: new destinations.SqsDestination(dlq) });

    // Every route verifies its own signature (Slack, Discord, Teams, HMAC hooks, API key).
    this.webhookUrl = this.webhook.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    // Chat follow-ups: nothing runs after a Lambda returns, so the slow half of a chat action
    // (carry out the cancel, post the outcome) goes to a queue whose consumer is the webhook
    // itself; the person's answer always leaves first. Retried, then dead-lettered (alarmed).
    const followUpDeadLetters = new sqs.Queue(this, 'FollowUpDeadLetters', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(followUpDeadLetters).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter queue of the follow-up queue.' });
    const followUps = new sqs.Queue(this, 'FollowUps', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      visibilityTimeout: Duration.seconds(90), // six times the webhook's timeout, as Lambda's SQS guide advises
      deadLetterQueue: { queue: followUpDeadLetters, maxReceiveCount: 5 },
    });
    followUps.grantSendMessages(this.webhook);
    this.webhook.addEnvironment(ENV.followUpQueue, followUps.queueUrl);
    this.webhook.addEventSource(new eventSources.SqsEventSource(followUps, { batchSize: 1, reportBatchItemFailures: true }));

    this.alarmTopic = props.alarmTopic ?? this.createAlarmTopic(stack);
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
    const alarmAction = new cwActions.SnsAction(this.alarmTopic);
    const metric = (name: string, statistic = 'Sum', period = Duration.minutes(5), service = SWEEPER_SERVICE, extra: Record<string, string> = {}) =>
      new cw.Metric({ namespace: METRICS_NAMESPACE, metricName: name, dimensionsMap: { [SERVICE_DIMENSION]: service, ...extra }, statistic, period });
    const alarm = (
      id: string,
      m: cw.IMetric,
      threshold: number,
      description: string,
      o: { evaluationPeriods?: number; below?: boolean; missing?: cw.TreatMissingData } = {},
    ) => {
      const a = new cw.Alarm(this, id, {
        metric: m,
        threshold,
        evaluationPeriods: o.evaluationPeriods ?? 1,
        comparisonOperator: o.below ? cw.ComparisonOperator.LESS_THAN_THRESHOLD : cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: o.missing ?? cw.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(alarmAction);
      return a;
    };
    // The watchdog watching itself: no completed sweep for 3 schedules is an alarm, and so is no data at all.
    const schedule = Duration.seconds(Math.max(60, Math.ceil(sweepEvery.toSeconds() / 60) * 60));
    alarm('SweeperStopped', metric(SweeperMetric.SweepCompleted, 'Sum', schedule), 1, 'No sweep completed for 3 schedules: runaways are not being enforced.', {
      evaluationPeriods: 3,
      below: true,
      missing: cw.TreatMissingData.BREACHING,
    });
    alarm('SweeperErrors', this.sweeper.metricErrors({ period: Duration.minutes(5) }), 1, 'The sweep function failed: runaways are not being enforced.');
    alarm('SweepErrors', metric(SweeperMetric.SweepErrors), 1, 'A sweep failed, or could not record a fault on an execution (the store is failing).');
    alarm('SweepFaults', metric(SweeperMetric.Faults), 1, 'The watchdog faulted while handling executions (recorded on each, retried, then cancel_failed).');
    alarm(
      'IndexRepairs',
      metric(SweeperMetric.IndexRepairs),
      1,
      'The safety net found an overdue execution missing from the due index and re-indexed it: this should never happen; check the table.',
    );
    alarm('Quarantined', metric(SweeperMetric.Quarantined), 1, 'An unreadable execution item was quarantined: `watchdog list --state quarantined`.');
    alarm('SweeperThrottles', this.sweeper.metricThrottles({ period: Duration.minutes(5) }), 1, 'The sweep function was throttled.');
    alarm('WebhookErrors', this.webhook.metricErrors({ period: Duration.minutes(5) }), 1, 'The webhook function failed.');
    alarm('WebhookServerErrors', metric(WebhookMetric.ServerErrors, 'Sum', Duration.minutes(5), WEBHOOK_SERVICE), 1, 'The webhook answered 5xx.');
    alarm('WebhookThrottles', this.webhook.metricThrottles({ period: Duration.minutes(5) }), 1, 'The webhook function was throttled.');
    alarm('CancelFailures', metric(SweeperMetric.CancelFailures), 1, 'A provider cancel failed or was not confirmed: an execution may still be running.');
    alarm('CancelCapReached', metric(SweeperMetric.HeldBackByCap), 1, 'The per-sweep cancel cap held runaways back: check the policies.');
    alarm('DueLag', metric(SweeperMetric.DueLag, 'Maximum'), 2 * sweepEvery.toMilliseconds(), 'Enforcement is late: due lag above twice the schedule.');
    alarm(
      'FailedSweepInvocations',
      dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      1,
      'A scheduled sweep invocation failed and was dead-lettered.',
    );
    alarm(
      'FailedFollowUps',
      followUpDeadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      1,
      'A chat follow-up (carry out a cancel, post its outcome) failed 5 times: someone did not hear back.',
    );
    [...config.connections.keys()].forEach((connection, i) => {
      alarm(
        `ConnectionUnhealthy${i}`,
        metric(SweeperMetric.ConnectionUnhealthy, 'Maximum', Duration.minutes(5), SWEEPER_SERVICE, { [CONNECTION_DIMENSION]: connection }),
        1,
        `Connection ${connection} failed its probe (credentials, route, DNS, TLS or timeout): its cancels will fail.`,
      );
    });

    const discovering = [...config.connections].filter(([, c]) => c.discover !== undefined).map(([name]) => name);
    discovering.forEach((connection, i) => {
      alarm(
        `DiscoveryIncomplete${i}`,
        metric(SweeperMetric.DiscoveryIncomplete, 'Maximum', Duration.minutes(15), SWEEPER_SERVICE, { [CONNECTION_DIMENSION]: connection }),
        1,
        `Discovery on ${connection} did not finish (its list failed, a budget ran out, or a run could not be tracked): runs nobody tracked may be unwatched. \`watchdog coverage ${connection}\` shows them.`,
      );
    });

    this.dashboard = new cw.Dashboard(this, 'Dashboard', { dashboardName: `${stack.stackName}-watchdog` });
    this.dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Executions per sweep',
        left: [metric(SweeperMetric.Evaluated), metric(SweeperMetric.Warned), metric(SweeperMetric.Cancelled)],
      }),
      new cw.GraphWidget({
        title: 'Failures',
        left: [
          metric(SweeperMetric.CancelFailures),
          metric(SweeperMetric.NotificationFailures),
          metric(SweeperMetric.HeldBackByCap),
          metric(SweeperMetric.Faults),
          metric(SweeperMetric.SweepErrors),
          this.sweeper.metricErrors(),
        ],
      }),
      new cw.GraphWidget({
        title: 'Due lag (enforcement latency)',
        left: [metric(SweeperMetric.DueLag, 'Maximum'), metric(SweeperMetric.SweepDuration, 'Maximum')],
      }),
      ...(discovering.length > 0
        ? [
            new cw.GraphWidget({
              title: 'Coverage: untracked runs per connection, discovered per sweep',
              left: discovering.map((c) => metric(SweeperMetric.Untracked, 'Maximum', Duration.minutes(5), SWEEPER_SERVICE, { [CONNECTION_DIMENSION]: c })),
              right: [metric(SweeperMetric.Discovered)],
            }),
          ]
        : []),
      new cw.GraphWidget({
        title: 'Webhook latency',
        left: [this.webhook.metricDuration({ statistic: 'p50' }), this.webhook.metricDuration({ statistic: 'p99' })],
      }),
    );
  }

  /**
   * The alarm topic, publishable by this account's CloudWatch alarms and nothing else.
   * Two policies must both allow it: the key's (CloudWatch cannot use the AWS-managed SNS
   * key, whose policy no one can extend) and the topic's. A topic policy replaces SNS's
   * default one, so `enforceSSL` alone (one Deny statement) would leave CloudWatch with no
   * Allow at all: the statement below is that Allow. test/cdk/delivery.test.ts evaluates both.
   */
  private createAlarmTopic(stack: Stack): sns.Topic {
    const alarmsOfThisAccount = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': Arn.format({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack),
      },
    };
    const topicKey = new kms.Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: 'Runaway Watchdog alarm topic',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: alarmsOfThisAccount,
      }),
    );
    const topic = new sns.Topic(this, 'Alarms', { displayName: 'Runaway Watchdog alarms', enforceSSL: true, masterKey: topicKey });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowThisAccountsAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: alarmsOfThisAccount,
      }),
    );
    return topic;
  }
}
