/**
 * The one schema for the whole watchdog config (YAML or JSON). Durations are human
 * strings ("90s", "45m", "2h"); every object is strict so a typo is an error, not a
 * silently missing limit. Cross references (connections → providers, policies →
 * connections/notify targets, defaultPolicy) are checked here too, with exact paths.
 */
import * as z from 'zod';
import { parseDuration } from '../core/duration.js';
import { LabelKey } from '../core/model.js';
import { isPrototypeName } from '../core/own.js';
import { BUILTIN_PROVIDERS, DISCOVERABLE, isBuiltinProvider, listsRunning } from '../providers/known.js';
import { EVENT_KINDS } from '../notify/types.js';

export const Duration = z.custom<string>((v) => typeof v === 'string' && parseDuration(v) !== undefined, {
  error: (iss) => `expected a duration like "45m", got ${JSON.stringify(iss.input)}`,
});

/** Like Duration, but "0" is allowed (e.g. maxExtension: "0" forbids extensions). */
const DurationOrZero = z.custom<string>((v) => v === '0' || (typeof v === 'string' && parseDuration(v) !== undefined), {
  error: (iss) => `expected a duration like "45m" (or "0"), got ${JSON.stringify(iss.input)}`,
});

/** See Settings.leaseDuration. */
export const MIN_LEASE_MS = 90_000;

const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a name of letters, digits, "-", "_" or "." (max 64)')
  .refine((s) => !isPrototypeName(s), { error: (iss) => `${JSON.stringify(iss.input)} is reserved (a JavaScript object member name); pick another name` });

const isLocalHost = (host: string): boolean => host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
export const BaseUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || (u.protocol === 'http:' && isLocalHost(u.hostname));
    } catch {
      return false;
    }
  },
  { error: (iss) => `expected an https:// URL (http:// only for 127.0.0.1 or localhost), got ${JSON.stringify(iss.input)}` },
);

export const Connection = z.strictObject({
  provider: z.string().min(1),
  baseUrl: BaseUrl.optional(),
  /** Secrets Manager secret name (or ARN) holding {"apiKey": "…"}; locally a key of the secrets file. */
  secret: z.string().min(1),
  /** Track the platform's running executions nobody tracked (docs/coverage.md). */
  discover: z
    .strictObject({
      every: Duration.default('5m'),
      /** The policy discovered runs are tracked under (default: the config's defaultPolicy). */
      policy: z.string().min(1).optional(),
      labels: z.record(LabelKey, z.string().max(256)).default({}),
    })
    .optional(),
});

const JsonPointer = z.string().regex(/^(\/[^/]*)*$/, 'expected a JSON pointer like "/status" or "/data/state"');
const HttpMethod = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const PathTemplate = z.string().regex(/^\/.*\{id\}/, 'expected a path template starting with "/" and containing {id}, e.g. "/jobs/{id}/cancel"');

export const HttpProvider = z.strictObject({
  type: z.literal('http'),
  baseUrl: BaseUrl.optional(),
  auth: z.strictObject({ header: z.string().min(1), prefix: z.string().default('') }),
  cancel: z.strictObject({
    method: HttpMethod.default('POST'),
    path: PathTemplate,
    /** HTTP statuses that mean "it had already finished". */
    alreadyFinished: z.array(z.number().int().min(400).max(499)).default([]),
  }),
  status: z
    .strictObject({
      method: HttpMethod.default('GET'),
      path: PathTemplate,
      statusPointer: JsonPointer,
      progressPointer: JsonPointer.optional(),
      progressTotalPointer: JsonPointer.optional(),
      terminal: z.strictObject({
        succeeded: z.array(z.string()).default([]),
        failed: z.array(z.string()).default([]),
        cancelled: z.array(z.string()).default([]),
      }),
      /** Statuses meaning "cancel accepted, not yet done". */
      cancelling: z.array(z.string()).default([]),
    })
    .optional(),
  /** The platform's list of running executions, for discovery (docs/coverage.md). */
  list: z
    .strictObject({
      /** The first page, with the query that asks for running executions: "/jobs?state=running&limit=100". */
      path: z.string().regex(/^\//, 'expected a path starting with "/"'),
      itemsPointer: JsonPointer,
      idPointer: JsonPointer,
      statusPointer: JsonPointer.optional(),
      /** With statusPointer: the statuses that mean running (others on the list are ignored). */
      running: z.array(z.string().min(1)).min(1).default(['running']),
      startedAtPointer: JsonPointer.optional(),
      pagination: z
        .discriminatedUnion('type', [
          z.strictObject({ type: z.literal('none') }),
          z.strictObject({
            type: z.literal('page'),
            /** The query parameter carrying the page number. */
            param: z.string().min(1).default('page'),
            first: z.number().int().min(0).default(1),
            /** With pageSize: a shorter page is the last. Else the list ends on an empty page or when hasMorePointer is false. */
            pageSize: z.number().int().positive().optional(),
            hasMorePointer: JsonPointer.optional(),
          }),
          z.strictObject({ type: z.literal('cursor'), param: z.string().min(1), pointer: JsonPointer }),
          z.strictObject({ type: z.literal('next'), pointer: JsonPointer }),
        ])
        .default({ type: 'none' }),
    })
    .optional(),
});

/** The event kinds a target gets (docs/oncall.md); default: all for chat and webhooks, trouble only for PagerDuty and Opsgenie. */
const On = z.array(z.enum(EVENT_KINDS)).min(1).optional();

export const NotifyTarget = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('slack'),
    channel: z.string().min(1),
    /** Secret holding {"botToken": "xoxb-…"}. */
    tokenSecret: z.string().min(1),
    /** Override for tests and local stand-ins. */
    apiUrl: BaseUrl.optional(),
    on: On,
  }),
  z.strictObject({
    type: z.literal('webhook'),
    url: BaseUrl,
    /** Secret holding {"signingSecret": "…"}. */
    secret: z.string().min(1),
    on: On,
  }),
  z.strictObject({
    type: z.literal('pagerduty'),
    /** Secret holding {"routingKey": "…"}: the Integration Key of an Events API v2 integration. */
    routingKeySecret: z.string().min(1),
    /** The Events API host (tests and local stand-ins override it). */
    apiUrl: BaseUrl.default('https://events.pagerduty.com'),
    on: On,
  }),
  z.strictObject({
    type: z.literal('opsgenie'),
    /** Secret holding {"apiKey": "…"}: the key of an Opsgenie API integration. */
    apiKeySecret: z.string().min(1),
    /** https://api.opsgenie.com, or https://api.eu.opsgenie.com for EU accounts. */
    apiUrl: BaseUrl.default('https://api.opsgenie.com'),
    on: On,
  }),
]);

const People = z
  .strictObject({
    users: z.array(z.string()).default([]),
    channels: z.array(z.string()).default([]),
  })
  .default({ users: [], channels: [] });

export const PolicyConfig = z
  .strictObject({
    name: Name,
    match: z
      .strictObject({
        connection: z.string().optional(),
        provider: z.string().optional(),
        labels: z.record(LabelKey, z.string()).optional(),
      })
      .optional(),
    maxRuntime: Duration.optional(),
    stallAfter: Duration.optional(),
    heartbeatTimeout: Duration.optional(),
    maxCostUsd: z.number().positive().optional(),
    costPerHourUsd: z.number().nonnegative().optional(),
    warnAt: z.number().gt(0).max(1).default(0.8),
    mode: z.enum(['enforce', 'dry-run']).default('enforce'),
    maxExtension: DurationOrZero.default('2h'),
    /** Longest snooze of warnings one request may ask for; default: the policy's maxExtension. */
    maxSnooze: DurationOrZero.optional(),
    notify: z.array(z.string()).default([]),
    /** Chat users/channels that may cancel, extend and snooze (and see) executions under this policy. */
    allow: People,
    /** Chat users/channels that may see (status, list) executions under this policy, without acting. */
    view: People,
    /** At a breach: `cancel` (default), or `approve` — ask the policy's notify targets first (docs/oncall.md "Approval mode"). */
    onBreach: z.enum(['cancel', 'approve']).default('cancel'),
    /** approve: how long people have to answer (default 30m). */
    approveWithin: Duration.optional(),
    /** approve: when nobody answers within approveWithin — `cancel` (default) or `keep` it running. */
    onSilence: z.enum(['cancel', 'keep']).optional(),
    /** approve: at or past this cost (USD) the run is cancelled without asking. */
    hardMaxCostUsd: z.number().positive().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.onBreach !== 'approve') {
      for (const key of ['approveWithin', 'onSilence', 'hardMaxCostUsd'] as const)
        if (p[key] !== undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: `applies only with onBreach: approve (policy "${p.name}" cancels at a breach)` });
    }
    if (p.hardMaxCostUsd !== undefined && p.maxCostUsd !== undefined && p.hardMaxCostUsd < p.maxCostUsd)
      ctx.addIssue({
        code: 'custom',
        path: ['hardMaxCostUsd'],
        message: `must be at least maxCostUsd (${p.maxCostUsd}): past the ceiling no approval is asked`,
      });
    if (p.hardMaxCostUsd !== undefined && p.maxCostUsd === undefined && p.costPerHourUsd === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['hardMaxCostUsd'],
        message: 'needs a cost to compare: set maxCostUsd (and report costUsd in heartbeats) or costPerHourUsd',
      });
  });

export const Settings = z.strictObject({
  /** Global dry run: nothing is ever cancelled, whatever a policy says. */
  dryRun: z.boolean().default(false),
  tableName: z.string().min(3).default('runaway-watchdog'),
  shards: z.number().int().min(1).max(64).default(8),
  /** The EventBridge schedule in AWS: whole minutes only (rules are minute-granular). `watchdog sweep --every` and `npm start` sweep faster locally. */
  sweepEvery: Duration.default('1m').refine((d) => (parseDuration(d) ?? 0) % 60_000 === 0, {
    error:
      'must be a whole number of minutes (1m, 2m, …): EventBridge schedules are minute-granular (`watchdog sweep --every 10s` sweeps faster on this machine)',
  }),
  /**
   * In AWS: `continuous` keeps each scheduled invocation sweeping every `tick` until shortly
   * before the next one (breach → cancel within seconds; docs/sweep.md "Enforcement latency");
   * `scheduled` sweeps once per `sweepEvery` (a minute late at worst, a few dollars cheaper).
   */
  sweepMode: z.enum(['continuous', 'scheduled']).default('continuous'),
  /** Continuous mode: time between the starts of two passes. */
  tick: Duration.default('1s').refine((d) => (parseDuration(d) ?? 0) >= 200 && (parseDuration(d) ?? 0) <= 30_000, {
    error: 'must be between 200ms and 30s',
  }),
  maxCancelsPerSweep: z.number().int().min(0).default(25),
  /**
   * Lost-heartbeat cancels are held (warned, alerted, not cancelled) when at least this many
   * heartbeat-tracked runs are silent at once and they are more than half of all such runs:
   * heartbeats are then not arriving, and the watchdog's own ingestion may be at fault.
   */
  heartbeatHoldMinRuns: z.number().int().min(1).default(3),
  /** Cancel attempts (across sweeps) on retryable faults before giving up with cancel_failed. */
  maxCancelAttempts: z.number().int().min(1).max(100).default(8),
  providerConcurrency: z.number().int().min(1).max(256).default(16),
  /**
   * How long a claimed cancel is ours. It must outlive one provider exchange: a status read
   * (up to 3 attempts of 10 s with backoff) and the cancel (up to 3 attempts on 429), about
   * 70 s at worst; a shorter lease lets another sweep recover a claim whose call is still
   * running. Minimum 90s.
   */
  leaseDuration: Duration.default('2m').refine((d) => (parseDuration(d) ?? 0) >= MIN_LEASE_MS, {
    error: `must be at least 90s: a claim has to outlive one provider exchange (status read and cancel, about 70 s at worst)`,
  }),
  confirmWithin: Duration.default('5m'),
  /** How often the sweep looks for overdue executions through the state index (the due index's safety net); "0" turns it off. */
  repairEvery: DurationOrZero.default('15m'),
  /** Per connection and sweep: time for listing the platform's running executions (discovery); enforcement never waits for it. */
  discoveryBudget: Duration.default('15s'),
  /** Per connection and sweep: most list pages read (the rest waits for the next run of discovery). */
  discoveryMaxPages: z.number().int().min(1).max(1000).default(50),
  /** How often each connection is probed (a harmless status read); "0" turns probes off. */
  probeEvery: DurationOrZero.default('10m'),
  recheckAfter: Duration.default('1h'),
  retention: Duration.default('30d'),
  /** Opt-in: `watchdog report` of the last `every`, sent to the `to` notify targets once per `every` (docs/oncall.md "The report"). */
  digest: z.strictObject({ to: z.array(z.string().min(1)).min(1), every: Duration.default('7d') }).optional(),
  /** Local only: JSON file mapping secret names to values. */
  secretsFile: z.string().optional(),
  /** Local only: where the embedded store keeps its data. */
  dataDir: z.string().default('.watchdog/data'),
});

/**
 * The inbound webhook: which routes are on, and the secrets they verify with. A route
 * whose secret is not configured answers 404, so nothing is reachable by accident.
 */
export const WebhookSettings = z.strictObject({
  /** Secret holding {"signingSecret": "…"} (Slack app → Basic Information). */
  slack: z.strictObject({ secret: z.string().min(1) }).optional(),
  /** Secret holding {"publicKey": "<hex>"} (Discord application public key). */
  discord: z.strictObject({ secret: z.string().min(1), apiUrl: BaseUrl.default('https://discord.com/api/v10') }).optional(),
  /** Secret holding {"securityToken": "<base64>"} (Teams outgoing webhook). */
  teams: z.strictObject({ secret: z.string().min(1) }).optional(),
  /** Secret holding {"signingSecret": "…"}: v2 HMAC (method, path, body) for /hooks/cancel and the tracking API. */
  hooks: z.strictObject({ secret: z.string().min(1) }).optional(),
  /**
   * Bearer keys for the tracking API. `{ secret }` is one key for every connection; `keys`
   * scopes each key to connections (and optionally labels): a key acts only on executions in
   * its scope, and everything outside it reads as not found.
   */
  api: z
    .strictObject({
      /** Secret holding {"apiKey": "…"}: one key for every connection. */
      secret: z.string().min(1).optional(),
      keys: z
        .array(
          z.strictObject({
            name: Name,
            /** Secret holding {"apiKey": "…"}. */
            secret: z.string().min(1),
            /** Connection names, or ["*"] for all. */
            connections: z.array(z.string().min(1)).min(1),
            /** Only executions carrying every one of these labels. */
            labels: z.record(LabelKey, z.string()).optional(),
            /** Policies a track with this key may name; default: the one the config matches for the run, or a stricter one. */
            policies: z.array(Name).min(1).optional(),
          }),
        )
        .min(1)
        .optional(),
    })
    .refine((a) => (a.secret === undefined) !== (a.keys === undefined), 'expected either "secret" (one key for everything) or "keys" (scoped keys), not both')
    .optional(),
  /** Requests larger than this are refused (413). */
  maxBodyBytes: z.number().int().min(1024).max(1_000_000).default(65_536),
  /**
   * How long a chat cancel waits for the provider before answering "in progress": at most
   * 2.5 s, since Slack gives up on an answer after 3 s (and Teams after 5).
   */
  ackBudget: Duration.default('2s').refine((d) => (parseDuration(d) ?? 0) <= 2_500, {
    error: (iss) => `at most 2.5s: Slack drops an answer after 3s (got ${JSON.stringify(iss.input)})`,
  }),
});

export const WatchdogConfigSchema = z
  .strictObject({
    settings: Settings.default(() => Settings.parse({})),
    connections: z.record(Name, Connection),
    providers: z.record(Name, HttpProvider).default({}),
    notify: z.record(Name, NotifyTarget).default({}),
    webhook: WebhookSettings.default(() => WebhookSettings.parse({})),
    policies: z.array(PolicyConfig).min(1, 'expected at least one policy'),
    defaultPolicy: z.string().default('default'),
  })
  .superRefine((cfg, ctx) => {
    for (const r of referenceProblems(cfg)) ctx.addIssue({ code: 'custom', path: r.path, message: r.message });
  });

/** Levenshtein distance, for "did you mean" on near-miss names. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** ` (did you mean "x"?)` when a known name is a near miss of `name`. */
export function didYouMean(name: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Cross references (connections → providers, policies → connections/notify targets, API keys →
 * connections, defaultPolicy), checked leniently on whatever parses: they run with the
 * schema, and on their own when the schema fails, so a config with several problems reports
 * all of them at once.
 */
export function referenceProblems(raw: unknown): Array<{ path: Array<string | number>; message: string }> {
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const cfg = obj(raw);
  const providers = obj(cfg.providers);
  const connections = obj(cfg.connections);
  const notify = obj(cfg.notify);
  const providerIds = [...BUILTIN_PROVIDERS, ...Object.keys(providers)];
  for (const name of Object.keys(providers)) {
    if (isBuiltinProvider(name)) out.push({ path: ['providers', name], message: `"${name}" is a built-in provider; pick another name` });
  }
  for (const [name, raw] of Object.entries(connections)) {
    const c = obj(raw);
    const provider = str(c.provider);
    if (provider !== undefined && !providerIds.includes(provider)) {
      out.push({
        path: ['connections', name, 'provider'],
        message: `unknown provider "${provider}"${didYouMean(provider, providerIds)}; expected one of ${providerIds.join(', ')}`,
      });
    }
    const dp = str(obj(c.discover).policy);
    const policyNames = arr(cfg.policies).map((p) => str(obj(p).name));
    if (dp !== undefined && !policyNames.includes(dp)) {
      const named = policyNames.filter((n): n is string => n !== undefined);
      out.push({
        path: ['connections', name, 'discover', 'policy'],
        message: `unknown policy "${dp}"${didYouMean(dp, named)}; expected one of ${named.join(', ')}`,
      });
    }
    if (
      c.discover !== undefined &&
      provider !== undefined &&
      !listsRunning(provider, (p) => Object.hasOwn(providers, p) && obj(providers[p]).list !== undefined)
    ) {
      out.push({
        path: ['connections', name, 'discover'],
        message: `provider "${provider}" has no list of running executions to discover from${isBuiltinProvider(provider) ? ` (built in for ${DISCOVERABLE.join(', ')})` : ': declare providers.' + provider + '.list'}`,
      });
    }
    if (provider !== undefined && c.baseUrl === undefined && Object.hasOwn(providers, provider) && obj(providers[provider]).baseUrl === undefined) {
      out.push({ path: ['connections', name, 'baseUrl'], message: `required: provider "${provider}" declares no baseUrl` });
    }
  }
  const seen = new Set<string>();
  arr(cfg.policies).forEach((raw, i) => {
    const p = obj(raw);
    const name = str(p.name);
    if (name !== undefined) {
      if (seen.has(name)) out.push({ path: ['policies', i, 'name'], message: `duplicate policy name "${name}"` });
      seen.add(name);
    }
    if (p.maxRuntime === undefined && p.stallAfter === undefined && p.heartbeatTimeout === undefined && p.maxCostUsd === undefined) {
      out.push({ path: ['policies', i], message: 'a policy needs at least one limit: maxRuntime, stallAfter, heartbeatTimeout or maxCostUsd' });
    }
    const match = obj(p.match);
    const mc = str(match.connection);
    if (mc !== undefined && !Object.hasOwn(connections, mc))
      out.push({ path: ['policies', i, 'match', 'connection'], message: `unknown connection "${mc}"${didYouMean(mc, Object.keys(connections))}` });
    const mp = str(match.provider);
    if (mp !== undefined && !providerIds.includes(mp))
      out.push({ path: ['policies', i, 'match', 'provider'], message: `unknown provider "${mp}"${didYouMean(mp, providerIds)}` });
    arr(p.notify).forEach((t, j) => {
      if (typeof t === 'string' && !Object.hasOwn(notify, t))
        out.push({ path: ['policies', i, 'notify', j], message: `unknown notify target "${t}"${didYouMean(t, Object.keys(notify))}` });
    });
  });
  arr(obj(obj(cfg.settings).digest).to).forEach((t, j) => {
    if (typeof t !== 'string') return;
    const target = Object.hasOwn(notify, t) ? obj(notify[t]) : undefined;
    if (target === undefined) out.push({ path: ['settings', 'digest', 'to', j], message: `unknown notify target "${t}"${didYouMean(t, Object.keys(notify))}` });
    else if (target.type === 'pagerduty' || target.type === 'opsgenie')
      out.push({ path: ['settings', 'digest', 'to', j], message: `"${t}" is an incident tool (${String(target.type)}): a digest goes to chat or a webhook` });
  });
  const keyNames = new Set<string>();
  arr(obj(obj(cfg.webhook).api).keys).forEach((raw, i) => {
    const k = obj(raw);
    const name = str(k.name);
    if (name !== undefined) {
      if (keyNames.has(name)) out.push({ path: ['webhook', 'api', 'keys', i, 'name'], message: `duplicate key name "${name}"` });
      keyNames.add(name);
    }
    arr(k.connections).forEach((c, j) => {
      if (typeof c === 'string' && c !== '*' && !Object.hasOwn(connections, c))
        out.push({ path: ['webhook', 'api', 'keys', i, 'connections', j], message: `unknown connection "${c}"${didYouMean(c, Object.keys(connections))}` });
    });
    arr(k.policies).forEach((p, j) => {
      if (typeof p === 'string' && !seen.has(p))
        out.push({
          path: ['webhook', 'api', 'keys', i, 'policies', j],
          message: `unknown policy "${p}"${didYouMean(p, seen)}; expected one of ${[...seen].join(', ')}`,
        });
    });
  });
  const defaultPolicy = str(cfg.defaultPolicy) ?? 'default';
  if (seen.size > 0 && !seen.has(defaultPolicy)) {
    out.push({
      path: ['defaultPolicy'],
      message: `no policy named "${defaultPolicy}"${didYouMean(defaultPolicy, seen)}; expected one of ${[...seen].join(', ')}`,
    });
  }
  return out;
}

export type WatchdogConfigParsed = z.output<typeof WatchdogConfigSchema>;
export type ConnectionConfig = z.output<typeof Connection>;
export type HttpProviderConfig = z.output<typeof HttpProvider>;
export type NotifyTargetConfig = z.output<typeof NotifyTarget>;

/** The secret a notify target reads, and its field. */
export function notifySecret(t: NotifyTargetConfig): { secret: string; field: string } {
  switch (t.type) {
    case 'slack':
      return { secret: t.tokenSecret, field: 'botToken' };
    case 'webhook':
      return { secret: t.secret, field: 'signingSecret' };
    case 'pagerduty':
      return { secret: t.routingKeySecret, field: 'routingKey' };
    case 'opsgenie':
      return { secret: t.apiKeySecret, field: 'apiKey' };
  }
}

/** Where a notify target sends (Slack's default API when not set). */
export function notifyUrl(t: NotifyTargetConfig): string {
  return t.type === 'webhook' ? t.url : (t.apiUrl ?? 'https://slack.com/api');
}
export type WebhookConfig = z.output<typeof WebhookSettings>;
