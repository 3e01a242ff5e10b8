/**
 * Load, validate and compile the watchdog config. The same function serves the CLI,
 * `npm start`, the Lambdas and `cdk synth`, so every entry point rejects a bad config
 * with the same messages: `policies[2].maxRuntime: expected a duration like "45m", got "forever"`.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { ownValue, protoKeyPaths } from '../core/own.js';
import type { Policy } from '../core/policy.js';
import { ConfigError } from '../errors.js';
import {
  type ConnectionConfig,
  type HttpProviderConfig,
  type NotifyTargetConfig,
  WatchdogConfigSchema,
  didYouMean,
  referenceProblems,
  type WatchdogConfigParsed,
  type WebhookConfig,
} from './schema.js';

export interface People {
  readonly users: readonly string[];
  readonly channels: readonly string[];
}

export interface CompiledPolicy extends Policy {
  readonly match: { connection?: string; provider?: string; labels?: Record<string, string> };
  readonly notify: readonly string[];
  readonly allow: People;
  readonly view: People;
}

/** Which executions a tracking-API credential may act on. */
export interface Scope {
  /** Connection names, or 'all'. */
  readonly connections: ReadonlySet<string> | 'all';
  /** Labels every execution in scope carries. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Policies a track with this key may name. Absent: the policy the config matches for the
   * run, or one at least as strict (see `atLeastAsStrict`). FULL_SCOPE names any.
   */
  readonly policies?: ReadonlySet<string>;
}

export const FULL_SCOPE: Scope = { connections: 'all' };

export interface ApiKey {
  readonly name: string;
  readonly secret: string;
  readonly scope: Scope;
}

export function inScope(scope: Scope, e: { connection: string; labels?: Readonly<Record<string, string>> }): boolean {
  if (scope.connections !== 'all' && !scope.connections.has(e.connection)) return false;
  return Object.entries(scope.labels ?? {}).every(([k, v]) => ownValue(e.labels, k) === v);
}

export interface WatchdogConfig {
  readonly settings: {
    readonly dryRun: boolean;
    readonly tableName: string;
    readonly shards: number;
    readonly sweepEveryMs: number;
    readonly maxCancelsPerSweep: number;
    readonly sweepMode: 'continuous' | 'scheduled';
    readonly tickMs: number;
    readonly heartbeatHoldMinRuns: number;
    readonly maxCancelAttempts: number;
    readonly providerConcurrency: number;
    readonly leaseMs: number;
    readonly confirmWithinMs: number;
    readonly probeEveryMs: number;
    readonly repairEveryMs: number;
    readonly discoveryBudgetMs: number;
    readonly discoveryMaxPages: number;
    readonly retentionMs: number;
    /** Opt-in: the report of the last `everyMs` to these notify targets, once per `everyMs`. */
    readonly digest?: { readonly to: readonly string[]; readonly everyMs: number };
    readonly secretsFile?: string;
    readonly dataDir: string;
  };
  /** Maps, not objects: every name here arrives from outside, and a Map has no inherited keys. */
  readonly connections: ReadonlyMap<string, ConnectionConfig>;
  readonly providers: ReadonlyMap<string, HttpProviderConfig>;
  readonly notify: ReadonlyMap<string, NotifyTargetConfig>;
  readonly webhook: WebhookConfig & { readonly ackBudgetMs: number; readonly apiKeys: readonly ApiKey[] };
  readonly policies: readonly CompiledPolicy[];
  readonly defaultPolicy: string;
  /** Where relative paths (secretsFile, dataDir) resolve from. */
  readonly baseDir: string;
  /** Fingerprint of what would be deployed (see deployableRaw): `watchdog doctor` compares it with the running one. */
  readonly sha256: string;
}

/** The config as deployed: local-only settings removed (Lambda reads Secrets Manager, has no data dir). */
export function deployableRaw(raw: unknown): Record<string, unknown> {
  const r = { ...(raw as Record<string, unknown>) };
  if (r.settings !== null && typeof r.settings === 'object') {
    const settings = { ...(r.settings as Record<string, unknown>) };
    delete settings.secretsFile;
    delete settings.dataDir;
    r.settings = settings;
  }
  return r;
}

/** The template's mark for what a team must fill in (examples/watchdog.yaml). */
export const PLACEHOLDER = 'REPLACE-ME';

/** Where a raw config still holds a placeholder: `path: value`, one each. */
export function placeholders(raw: unknown, at = ''): string[] {
  if (typeof raw === 'string') return raw.toUpperCase().includes(PLACEHOLDER) ? [`${at || '(root)'}: ${JSON.stringify(raw)}`] : [];
  if (Array.isArray(raw)) return raw.flatMap((v, i) => placeholders(v, `${at}[${i}]`));
  if (raw !== null && typeof raw === 'object') return Object.entries(raw).flatMap(([k, v]) => placeholders(v, at ? `${at}.${k}` : k));
  return [];
}

export const configSha256 = (raw: unknown): string =>
  createHash('sha256')
    .update(JSON.stringify(deployableRaw(raw)))
    .digest('hex');

function formatPath(p: readonly PropertyKey[], root: string): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? root : out;
}

/**
 * One line per problem, `path: message` (`policies[2].maxRuntime: …`): the one formatter of
 * validation errors for config files, CLI input and request bodies alike. `root` names the
 * whole document (`(root)` for a config, `(body)` for a request).
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root = '(root)', schema?: z.core.$ZodType): string[] {
  return issues.map((i) => {
    let msg = i.message;
    if (i.code === 'unrecognized_keys') {
      const known = schema ? keysAt(schema, i.path) : [];
      msg = `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"${didYouMean(k, known)}`).join(', ')}`;
    } else if (i.code === 'invalid_type' && /received undefined/.test(msg)) msg = `required (${i.expected})`;
    else if (i.code === 'invalid_key') msg = i.issues.map((k) => k.message).join('; ');
    return `${formatPath(i.path, root)}: ${msg}`;
  });
}

/** The keys an object schema knows at `path` (through optionals, defaults, arrays, records, unions): for "did you mean". */
function keysAt(schema: z.core.$ZodType, at: readonly PropertyKey[]): string[] {
  type Def = {
    type: string;
    shape?: Record<string, z.core.$ZodType>;
    element?: z.core.$ZodType;
    valueType?: z.core.$ZodType;
    innerType?: z.core.$ZodType;
    in?: z.core.$ZodType;
    options?: z.core.$ZodType[];
  };
  const def = (s: z.core.$ZodType) => s._zod.def as unknown as Def;
  let current: z.core.$ZodType[] = [schema];
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType[] => {
    const d = def(s);
    if (d.innerType) return unwrap(d.innerType);
    if (d.type === 'pipe' && d.in) return unwrap(d.in);
    if (d.type === 'union' && d.options) return d.options.flatMap(unwrap);
    return [s];
  };
  for (const seg of at) {
    current = current.flatMap(unwrap).flatMap((s) => {
      const d = def(s);
      if (d.type === 'object' && d.shape && typeof seg === 'string' && Object.hasOwn(d.shape, seg)) return [d.shape[seg]!];
      if (d.type === 'array' && d.element && typeof seg === 'number') return [d.element];
      if (d.type === 'record' && d.valueType) return [d.valueType];
      return [];
    });
  }
  return [...new Set(current.flatMap(unwrap).flatMap((s) => Object.keys(def(s).shape ?? {})))];
}

const ms = (d: string): number => (d === '0' ? 0 : (parseDuration(d) ?? 0));

export function compileConfig(raw: unknown, baseDir = process.cwd()): WatchdogConfig {
  const reserved = protoKeyPaths(raw);
  if (reserved.length > 0) throw new ConfigError(reserved.map((p) => `${p}: "__proto__" is reserved; pick another name`));
  const parsed = WatchdogConfigSchema.safeParse(raw);
  if (!parsed.success) {
    // The schema stops before its cross-reference checks; run them on the raw input too, so
    // every problem is reported at once.
    const lines = formatIssues(parsed.error.issues, '(root)', WatchdogConfigSchema);
    for (const r of referenceProblems(raw)) {
      const line = `${formatPath(r.path, '(root)')}: ${r.message}`;
      if (!lines.includes(line)) lines.push(line);
    }
    throw new ConfigError(lines);
  }
  return compileParsed(parsed.data, baseDir, configSha256(raw));
}

function compileParsed(c: WatchdogConfigParsed, baseDir: string, sha256: string): WatchdogConfig {
  const s = c.settings;
  const recheckAfterMs = ms(s.recheckAfter);
  return {
    settings: {
      dryRun: s.dryRun,
      tableName: s.tableName,
      shards: s.shards,
      sweepEveryMs: ms(s.sweepEvery),
      maxCancelsPerSweep: s.maxCancelsPerSweep,
      sweepMode: s.sweepMode,
      tickMs: ms(s.tick),
      heartbeatHoldMinRuns: s.heartbeatHoldMinRuns,
      maxCancelAttempts: s.maxCancelAttempts,
      providerConcurrency: s.providerConcurrency,
      leaseMs: ms(s.leaseDuration),
      confirmWithinMs: ms(s.confirmWithin),
      probeEveryMs: ms(s.probeEvery),
      repairEveryMs: ms(s.repairEvery),
      discoveryBudgetMs: ms(s.discoveryBudget),
      discoveryMaxPages: s.discoveryMaxPages,
      retentionMs: ms(s.retention),
      ...(s.digest === undefined ? {} : { digest: { to: s.digest.to, everyMs: ms(s.digest.every) } }),
      ...(s.secretsFile === undefined ? {} : { secretsFile: path.resolve(baseDir, s.secretsFile) }),
      dataDir: path.resolve(baseDir, s.dataDir),
    },
    connections: new Map(Object.entries(c.connections)),
    providers: new Map(Object.entries(c.providers)),
    notify: new Map(Object.entries(c.notify)),
    webhook: { ...c.webhook, ackBudgetMs: ms(c.webhook.ackBudget), apiKeys: apiKeys(c.webhook.api) },
    policies: c.policies.map((p) => ({
      name: p.name,
      ...(p.maxRuntime === undefined ? {} : { maxRuntimeMs: ms(p.maxRuntime) }),
      ...(p.stallAfter === undefined ? {} : { stallAfterMs: ms(p.stallAfter) }),
      ...(p.heartbeatTimeout === undefined ? {} : { heartbeatTimeoutMs: ms(p.heartbeatTimeout) }),
      ...(p.maxCostUsd === undefined ? {} : { maxCostUsd: p.maxCostUsd }),
      ...(p.costPerHourUsd === undefined ? {} : { costPerHourUsd: p.costPerHourUsd }),
      warnAt: p.warnAt,
      // The global switch wins: a dry-run deployment never cancels.
      mode: s.dryRun ? 'dry-run' : p.mode,
      maxExtensionMs: ms(p.maxExtension),
      maxSnoozeMs: ms(p.maxSnooze ?? p.maxExtension),
      recheckAfterMs,
      ...(p.onBreach === 'approve'
        ? {
            onBreach: 'approve' as const,
            approveWithinMs: ms(p.approveWithin ?? '30m'),
            onSilence: p.onSilence ?? 'cancel',
            ...(p.hardMaxCostUsd === undefined ? {} : { hardMaxCostUsd: p.hardMaxCostUsd }),
          }
        : {}),
      match: p.match ?? {},
      notify: p.notify,
      allow: p.allow,
      view: p.view,
    })),
    defaultPolicy: c.defaultPolicy,
    baseDir,
    sha256,
  };
}

function apiKeys(api: WebhookConfig['api']): ApiKey[] {
  if (api?.secret !== undefined) return [{ name: 'default', secret: api.secret, scope: FULL_SCOPE }];
  return (api?.keys ?? []).map((k) => ({
    name: k.name,
    secret: k.secret,
    scope: {
      connections: k.connections.includes('*') ? 'all' : new Set(k.connections),
      ...(k.labels ? { labels: k.labels } : {}),
      ...(k.policies ? { policies: new Set(k.policies) } : {}),
    },
  }));
}

export function policyByName(config: WatchdogConfig, name: string): CompiledPolicy | undefined {
  return config.policies.find((p) => p.name === name);
}

/**
 * The policy governing a tracked execution: the one it was tracked under, or, if that was
 * removed from the config since, what selection gives for its connection (never "no limit").
 * The store (dueAt), the sweep (decisions) and the service all use this one lookup.
 */
export function policyFor(config: WatchdogConfig, e: { policy: string; connection: string }): CompiledPolicy {
  return policyByName(config, e.policy) ?? selectPolicy(config, { connection: e.connection });
}

export interface Selector {
  policy?: string;
  connection: string;
  labels?: Record<string, string>;
}

/**
 * Explicit policy name, else the first policy whose `match` fits (connection, provider,
 * every listed label), else the default policy.
 */
export function selectPolicy(config: WatchdogConfig, sel: Selector): CompiledPolicy {
  if (sel.policy !== undefined) {
    const p = policyByName(config, sel.policy);
    if (!p) throw new ConfigError([`unknown policy "${sel.policy}"; expected one of ${config.policies.map((x) => x.name).join(', ')}`]);
    return p;
  }
  const provider = config.connections.get(sel.connection)?.provider;
  const labels = sel.labels ?? {};
  for (const p of config.policies) {
    const m = p.match;
    if (m.connection === undefined && m.provider === undefined && m.labels === undefined) continue;
    if (m.connection !== undefined && m.connection !== sel.connection) continue;
    if (m.provider !== undefined && m.provider !== provider) continue;
    if (m.labels !== undefined && !Object.entries(m.labels).every(([k, v]) => ownValue(labels, k) === v)) continue;
    return p;
  }
  const d = policyByName(config, config.defaultPolicy);
  if (!d) throw new ConfigError([`defaultPolicy "${config.defaultPolicy}" does not exist`]);
  return d;
}
