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
  Annotations,
  Arn,
  ArnFormat,
  CfnOutput,
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
import { type WatchdogConfig, compileConfig, deployableRaw, placeholders } from '../src/config/load.js';
import { notifySecret } from '../src/config/schema.js';
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
  /** How often the sweep runs: whole minutes (EventBridge is minute-granular). Default: the config's settings.sweepEvery (1 minute). */
  readonly sweepEvery?: Duration;
  /** Email address subscribed to the alarm topic. Default: none (subscribe yourself). */
  readonly alarmEmail?: string;
  /** What happens to the (created) table when the stack is deleted. Default: RETAIN. */
  readonly removalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection. Default: true. */
  readonly deletionProtection?: boolean;
  /** Log retention of both functions. Default: one month. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Sweeper timeout, 1 to 15 minutes (Lambda's limit). Each sweep ends by its deadline, the
   * earlier of the next schedule (less a margin) and this timeout less a 30 s reserve, so a
   * longer timeout never makes sweeps overlap. Default: 5 minutes.
   */
  readonly sweepTimeout?: Duration;
  /** Memory of the functions in MB (128–10240). Default: 512 (sized by `npm run bench -- lambda_heartbeat`). */
  readonly memorySize?: number;
  /**
   * Reserved concurrency of the webhook, so a flood on its public URL cannot take the
   * account's whole concurrency. Opt-in: Lambda keeps 100 units of the account's quota
   * unreserved, so reserving N needs a quota of at least 100 + N (+ sweeperConcurrency);
   * new accounts start lower (`watchdog doctor --region …` shows yours). Default: none.
   */
  readonly webhookConcurrency?: number;
  /**
   * Stack outputs for what a team wires next: `WebhookUrl` (the Slack / Discord / Teams
   * manifests and trackers' base URL; ends in `/`), `TableName` (`watchdog --table`) and
   * `AlarmTopicArn`. `cdk deploy` prints them. Default true; false to make your own.
   */
  readonly outputs?: boolean;
  /**
   * Reserved concurrency of the sweeper (1 makes one sweep at a time a platform guarantee).
   * Opt-in for the same reason as webhookConcurrency; without it, sweeps do not overlap
   * because each ends before the next is scheduled, and if they did, the claim protocol still
   * makes one cancel per decision. Default: none.
   */
  readonly sweeperConcurrency?: number;
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
export function deployableConfig(source: string | { config: unknown }): { config: WatchdogConfig; json: string; placeholders: string[] } {
  if (typeof source !== 'string') {
    const config = compileConfig(source.config);
    return { config, json: JSON.stringify(deployableRaw(source.config)), placeholders: placeholders(source.config) };
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
  return { config, json: JSON.stringify(deployableRaw(raw)), placeholders: placeholders(raw) };
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
  const notify = [...config.notify.values()].map((t) => notifySecret(t).secret);
  const w = config.webhook;
  const inbound = [w.slack?.secret, w.discord?.secret, w.teams?.secret, w.hooks?.secret, ...w.apiKeys.map((k) => k.secret)].filter(
    (s): s is string => s !== undefined,
  );
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  return { sweeper: uniq([...providers, ...notify]), webhook: uniq([...providers, ...notify, ...inbound]) };
}

/**
 * The follow-up consumer's timeout: its worst case is the wait for the cancel's outcome
 * (10 s), a provider exchange (a status read and the cancel, ~70 s at worst: see the lease)
 * and the chat post (5 s).
 */
const FOLLOW_UP_TIMEOUT = Duration.seconds(90);
/**
 * The webhook's memory, by measurement (`npm run bench -- lambda_heartbeat`, docs/cost.md):
 * one warm environment serving 2,000 heartbeats peaks at ~234 MB RSS on Node 24, so 256 MB
 * would leave no headroom; a heartbeat's compute at 512 MB costs ~$0.03 per million, against
 * $0.20 per million for the request itself.
 */
const WEBHOOK_MEMORY_MB = 512;
/**
 * A continuous sweeper is billed for every second of the month: its memory is the cost of
 * the seconds bound (`npm run bench -- aws_latency`: `aws_sweeper_cost_usd_month`). Its peak
 * RSS measured there is ~200 MB on Node 24 (with a 80 MB heap); 240 MB keeps a fifth in
 * hand. Raise `memorySize` for backlogs of thousands of items.
 */
const SWEEPER_CONTINUOUS_MEMORY_MB = 240;
/** Deliveries of a follow-up before it is dead-lettered. */
const FOLLOW_UP_RECEIVES = 5;

/** The published bound of breach → cancel request sent, p99, for continuous sweeps (docs/sweep.md "Enforcement latency"). */
export const BREACH_TO_CANCEL_P99_MS = 5_000;

/** Lambda's longest timeout. */
const LAMBDA_MAX_TIMEOUT = Duration.minutes(15);
/** What the sweep keeps at the end of an invocation to record outcomes (SweepOptions.reserveMs). */
export const SWEEP_RESERVE = Duration.seconds(30);

/**
 * What the deployed shape cannot honour, one line each, before anything is built: a schedule
 * EventBridge cannot express, a timeout Lambda refuses or the sweep's reserve would eat.
 */
export function deployProblems(props: RunawayWatchdogProps, sweepEvery: Duration, sweepTimeout: Duration, continuous = false): string[] {
  const out: string[] = [];
  const ms = (d: Duration) => d.toMilliseconds();
  const timeoutOk = ms(sweepTimeout) <= ms(LAMBDA_MAX_TIMEOUT) && ms(sweepTimeout) >= 2 * ms(SWEEP_RESERVE);
  if (continuous && timeoutOk && ms(sweepTimeout) < ms(sweepEvery) + ms(SWEEP_RESERVE))
    out.push(
      `sweepTimeout: ${sweepTimeout.toHumanString()}: continuous sweeps (settings.sweepMode) stay awake for the whole schedule: give at least sweepEvery + 30 s (${sweepEvery.plus(SWEEP_RESERVE).toHumanString()}), or sweepMode: scheduled`,
    );
  if (ms(sweepEvery) < 60_000 || ms(sweepEvery) % 60_000 !== 0)
    out.push(`sweepEvery: ${sweepEvery.toHumanString()}: must be a whole number of minutes (EventBridge schedules are minute-granular)`);
  if (ms(sweepTimeout) > ms(LAMBDA_MAX_TIMEOUT)) out.push(`sweepTimeout: ${sweepTimeout.toHumanString()}: Lambda's longest timeout is 15 minutes`);
  if (ms(sweepTimeout) < 2 * ms(SWEEP_RESERVE))
    out.push(`sweepTimeout: ${sweepTimeout.toHumanString()}: must be at least 1 minute (the sweep keeps 30 s in reserve to record outcomes)`);
  for (const [name, v] of [
    ['webhookConcurrency', props.webhookConcurrency],
    ['sweeperConcurrency', props.sweeperConcurrency],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) out.push(`${name}: ${v}: must be a whole number ≥ 1, or left out (no reservation)`);
  }
  if (props.memorySize !== undefined && (!Number.isInteger(props.memorySize) || props.memorySize < 128 || props.memorySize > 10_240))
    out.push(`memorySize: ${props.memorySize}: Lambda takes 128 to 10240 MB`);
  return out;
}

export class RunawayWatchdog extends Construct {
  readonly table: ddb.ITableV2;
  readonly sweeper: lambda.Function;
  readonly webhook: lambda.Function;
  readonly webhookUrl: lambda.FunctionUrl;
  /** Consumes the chat follow-up queue (the webhook's bundle, its own timeout and concurrency). */
  readonly followUpWorker: lambda.Function;
  readonly alarmTopic: sns.ITopic;
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: RunawayWatchdogProps) {
    super(scope, id);
    if ((props.configFile === undefined) === (props.config === undefined)) {
      throw new ConfigError(['RunawayWatchdog: give exactly one of configFile (a path) and config (an object)']);
    }
    const { config, json, placeholders: unfilled } = deployableConfig(props.configFile ?? { config: props.config });
    const stack = Stack.of(this);
    // A template deployed as is: it synthesizes (so `cdk bootstrap` and a first synth work), loudly.
    if (unfilled.length > 0)
      Annotations.of(this).addWarningV2(
        'watchdog:placeholder',
        `the config's placeholders are not filled in yet (fill them in before deploying): ${unfilled.join('; ')}`,
      );
    const sweepEvery = props.sweepEvery ?? Duration.millis(config.settings.sweepEveryMs);
    const continuous = config.settings.sweepMode === 'continuous';
    // Continuous sweeps stay awake for the whole schedule: the timeout must cover it and the reserve.
    const sweepTimeout = props.sweepTimeout ?? Duration.minutes(Math.min(15, Math.max(5, Math.ceil(sweepEvery.toMinutes({ integral: false })) + 1)));
    const problems = deployProblems(props, sweepEvery, sweepTimeout, continuous);
    if (problems.length > 0) throw new ConfigError(problems);
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

    /** A function: `name` names its log group and role, `bundle` is the handler it runs. */
    const makeFunction = (
      name: 'sweeper' | 'webhook' | 'followUps',
      bundle: 'sweeper' | 'webhook',
      timeout: Duration,
      reservedConcurrentExecutions: number | undefined,
    ): lambda.Function => {
      const logGroup = new logs.LogGroup(this, `${name}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new iam.Role(this, `${name}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `Runaway Watchdog ${name}` });
      const common = {
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.memorySize ?? (name !== 'sweeper' ? WEBHOOK_MEMORY_MB : continuous ? SWEEPER_CONTINUOUS_MEMORY_MB : 512),
        timeout,
        // The bill: JSON logs, and the platform's START/END/REPORT lines only at WARN (three
        // lines per request on a heartbeat-heavy webhook otherwise). Our own lines: the
        // sweeper at INFO (one summary per sweep, one per action), the webhook at WARN (its
        // one line per request is the EMF document, which carries route, status and time).
        loggingFormat: lambda.LoggingFormat.JSON,
        systemLogLevelV2: lambda.SystemLogLevel.WARN,
        ...(reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions }),
        role,
        logGroup,
        environment: {
          [ENV.table]: this.table.tableName,
          [ENV.configFile]: '/var/task/watchdog.config.json',
          [ENV.metricsNamespace]: METRICS_NAMESPACE,
          // `watchdog doctor` compares it with the local file: the deployed config is the one you think.
          [ENV.configHash]: config.sha256,
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_LOG_LEVEL: name === 'sweeper' ? 'INFO' : 'WARN',
        },
      };
      const id = { sweeper: 'Sweeper', webhook: 'Webhook', followUps: 'FollowUpWorker' }[name];
      const prebuilt = path.join(PREBUILT, bundle);
      const fn = existsSync(path.join(prebuilt, 'index.mjs'))
        ? new lambda.Function(this, id, { ...common, handler: 'index.handler', code: lambda.Code.fromAsset(stage(prebuilt, configDir, name)) })
        : new nodejs.NodejsFunction(this, id, {
            ...common,
            entry: path.join(ROOT, 'lambdas', `${bundle}.ts`),
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

    // Reserved concurrency only when asked for: it needs an account quota of 100 + the reservations.
    this.sweeper = makeFunction('sweeper', 'sweeper', sweepTimeout, props.sweeperConcurrency);
    this.sweeper.addEnvironment(ENV.sweepEveryMs, String(sweepEvery.toMilliseconds()));
    this.webhook = makeFunction('webhook', 'webhook', Duration.seconds(15), props.webhookConcurrency);
    // Chat follow-ups run in their own function (the webhook's bundle): a timeout that covers
    // the worst follow-up, and concurrency bounded apart from the chat routes.
    this.followUpWorker = makeFunction('followUps', 'webhook', FOLLOW_UP_TIMEOUT, undefined);

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
    for (const fn of [this.webhook, this.followUpWorker]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:Query'],
          resources: [this.table.tableArn],
        }),
      );
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [indexArn(TABLE.stateIndex)] }));
      // One UpdateItem, on one item only: the ledger's record that tracking requests failed on the
      // watchdog's side (the sweep then holds lost-heartbeat cancels).
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:UpdateItem'],
          resources: [this.table.tableArn],
          conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [ledgerPartitionKey(INGEST_KEY)] } },
        }),
      );
    }

    const names = secretNames(config);
    for (const [fn, list] of [
      [this.sweeper, names.sweeper],
      [this.webhook, names.webhook],
      [this.followUpWorker, names.webhook],
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
    // A scheduled invocation that cannot start (throttled) is not queued for hours behind
    // later ones: after a minute it is dead-lettered (and alarmed); the next schedule comes.
    this.sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1), onFailure: new destinations.SqsDestination(dlq) });

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
      visibilityTimeout: FOLLOW_UP_TIMEOUT.plus(Duration.seconds(30)), // the consumer's timeout and its batch window, as Lambda's SQS guide advises
      deadLetterQueue: { queue: followUpDeadLetters, maxReceiveCount: FOLLOW_UP_RECEIVES },
    });
    followUps.grantSendMessages(this.webhook);
    this.webhook.addEnvironment(ENV.followUpQueue, followUps.queueUrl);
    this.followUpWorker.addEnvironment(ENV.followUpReceives, String(FOLLOW_UP_RECEIVES));
    // maxConcurrency bounds the consumer without reserving account concurrency (2 is SQS's minimum).
    this.followUpWorker.addEventSource(new eventSources.SqsEventSource(followUps, { batchSize: 1, reportBatchItemFailures: true, maxConcurrency: 2 }));

    this.alarmTopic = props.alarmTopic ?? this.createAlarmTopic(stack);
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
    if (props.outputs !== false) {
      new CfnOutput(this, 'WebhookUrl', {
        value: this.webhookUrl.url,
        description: 'Slack slash command: <url>slack/commands · interactivity: <url>slack/interactions · trackers: WatchdogClient baseUrl',
      });
      new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'for `watchdog --table <name> --region <region>`' });
      new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: "the watchdog's own alarms" });
    }
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
    alarm(
      'FollowUpWorkerErrors',
      this.followUpWorker.metricErrors({ period: Duration.minutes(5) }),
      1,
      'The chat follow-up consumer failed or timed out: a cancel from chat may not have been reported back.',
    );
    alarm('CancelFailures', metric(SweeperMetric.CancelFailures), 1, 'A provider cancel failed or was not confirmed: an execution may still be running.');
    alarm('CancelCapReached', metric(SweeperMetric.HeldBackByCap), 1, 'The per-sweep cancel cap held runaways back: check the policies.');
    alarm(
      'NotificationFailures',
      metric(SweeperMetric.NotificationFailures),
      1,
      'A warning, outcome or alert could not be delivered (a revoked chat token, a removed channel): people are not hearing from the watchdog.',
    );
    alarm(
      'HeartbeatCancelsHeld',
      metric(SweeperMetric.HeartbeatCancelsHeld),
      1,
      'Lost-heartbeat cancels are held: heartbeats are not arriving fleet-wide, or the webhook could not take them (its secrets, the store, throttling). Check WebhookServerErrors and WebhookThrottles.',
    );
    alarm(
      'SweepOverrun',
      metric(SweeperMetric.SweepOverrun, 'Maximum', Duration.minutes(15)),
      1,
      'A sweep reached its deadline with due work left: the backlog is larger than one sweep (Deferred counts what waits).',
    );
    alarm('DueLag', metric(SweeperMetric.DueLag, 'Maximum'), 2 * sweepEvery.toMilliseconds(), 'Enforcement is late: due lag above twice the schedule.');
    // The published bound (docs/sweep.md "Enforcement latency"): continuous sweeps cancel within 5 s of a breach (p99); scheduled ones within the schedule and 5 s.
    const bound = config.settings.sweepMode === 'continuous' ? BREACH_TO_CANCEL_P99_MS : sweepEvery.toMilliseconds() + BREACH_TO_CANCEL_P99_MS;
    alarm(
      'BreachToCancel',
      metric(SweeperMetric.BreachToCancelMs, 'p99', Duration.minutes(15)),
      bound,
      `Enforcement is slower than published: p99 breach → cancel request above ${bound / 1000} s (provider latency, a backlog, or the sweeper not staying awake).`,
    );
    // Incidents, not standing counts: a dead-letter queue alarms on each message that arrives
    // (EventBridge and Lambda's failure destination send them, so NumberOfMessagesSent counts
    // them), not on what it still holds, which would keep the alarm in ALARM for 14 days and
    // silent for every later failure.
    alarm(
      'FailedSweepInvocations',
      dlq.metricNumberOfMessagesSent({ period: Duration.minutes(5), statistic: 'Sum' }),
      1,
      'A scheduled sweep invocation failed and was dead-lettered.',
    );
    // A redriven message is not "sent": the consumer counts the follow-ups it gives up on.
    alarm(
      'FailedFollowUps',
      metric(WebhookMetric.FollowUpsGivenUp, 'Sum', Duration.minutes(5), WEBHOOK_SERVICE),
      1,
      'A chat follow-up (carry out a cancel, post its outcome) failed on its last attempt and was dead-lettered: someone did not hear back.',
    );
    // A probe reports once per probeEvery: the period spans it, and a period without a report
    // keeps the alarm's state (no flapping to OK between two failed probes).
    const probePeriod = Duration.minutes(Math.min(24 * 60, Math.max(5, Math.ceil(config.settings.probeEveryMs / 60_000) + 1)));
    [...config.connections.keys()].forEach((connection, i) => {
      alarm(
        `ConnectionUnhealthy${i}`,
        metric(SweeperMetric.ConnectionUnhealthy, 'Maximum', probePeriod, SWEEPER_SERVICE, { [CONNECTION_DIMENSION]: connection }),
        1,
        `Connection ${connection} failed its probe (credentials, route, DNS, TLS or timeout): its cancels will fail.`,
        { missing: cw.TreatMissingData.IGNORE },
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

    // No fixed name: dashboard names are account-global, and the same stack may run in two regions.
    this.dashboard = new cw.Dashboard(this, 'Dashboard');
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
