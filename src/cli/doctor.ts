/**
 * `watchdog doctor`: the preflight a platform team runs before switching to enforce, and
 * again on call. Each check is one ✓/✗ line; nothing here changes an execution.
 *   config   valid, every problem at once (schema and references), "did you mean" for near misses
 *   secrets  every secret the config names resolves, with the field it must carry
 *   probes   each connection answers a harmless status read (see sweep/probe.ts)
 *   slack    each Slack bot token passes auth.test
 *   table    the table exists with the expected keys and indexes (and TTL where the engine has it)
 *   deployed the config recorded by the running sweeper is this file
 *   account  the account's Lambda concurrency: what the construct's opt-in reservations need
 */
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import type { WatchdogConfig } from '../config/load.js';
import { notifySecret } from '../config/schema.js';
import { isListable } from '../app/coverage.js';
import { ProviderRegistry } from '../providers/registry.js';
import { HttpClient } from '../providers/http.js';
import type { Runtime } from '../runtime.js';
import { type SecretSource, readSecretField } from '../secrets.js';
import { readRunningConfig } from '../store/meta.js';
import { INDEXES, TABLE, TABLE_KEYS } from '../store/table.js';
import { probe } from '../app/probe.js';

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface Check {
  group: 'config' | 'secret' | 'connection' | 'slack' | 'table' | 'deployed' | 'account' | 'aws';
  name: string;
  status: CheckStatus;
  detail: string;
}

const message = (err: unknown) => ((err as Error)?.message ?? String(err)).split('\n')[0] ?? '';

/** Every (secret, field) the config needs, each once. */
export function requiredSecrets(config: WatchdogConfig): Array<{ secret: string; field: string; usedBy: string }> {
  const out = new Map<string, { secret: string; field: string; usedBy: string }>();
  const add = (secret: string, field: string, usedBy: string) => {
    const k = `${secret}\u0000${field}`;
    if (!out.has(k)) out.set(k, { secret, field, usedBy });
  };
  for (const [name, c] of config.connections) add(c.secret, 'apiKey', `connection ${name}`);
  for (const [name, t] of config.notify) {
    const s = notifySecret(t);
    add(s.secret, s.field, `notify ${name}`);
  }
  const w = config.webhook;
  if (w.slack) add(w.slack.secret, 'signingSecret', 'webhook.slack');
  if (w.discord) add(w.discord.secret, 'publicKey', 'webhook.discord');
  if (w.teams) add(w.teams.secret, 'securityToken', 'webhook.teams');
  if (w.hooks) add(w.hooks.secret, 'signingSecret', 'webhook.hooks');
  for (const k of w.apiKeys) add(k.secret, 'apiKey', `webhook.api key ${k.name}`);
  return [...out.values()];
}

export async function secretChecks(config: WatchdogConfig, secrets: SecretSource): Promise<Check[]> {
  return Promise.all(
    requiredSecrets(config).map(async (s): Promise<Check> => {
      try {
        await readSecretField(secrets, s.secret, s.field);
        return { group: 'secret', name: `${s.secret} (${s.field})`, status: 'ok', detail: `readable, for ${s.usedBy}` };
      } catch (err) {
        return { group: 'secret', name: `${s.secret} (${s.field})`, status: 'fail', detail: `${message(err)} (needed by ${s.usedBy})` };
      }
    }),
  );
}

export async function connectionChecks(config: WatchdogConfig, secrets: SecretSource): Promise<Check[]> {
  const registry = new ProviderRegistry(config, secrets, { attempts: 1, timeoutMs: 5_000 });
  const checks = await Promise.all(
    [...config.connections.entries()].map(async ([name, c]): Promise<Check[]> => {
      const probed = async (): Promise<Check> => {
        try {
          const r = await probe(name, registry.forConnection(name));
          if (!r) return { group: 'connection', name, status: 'skip', detail: `provider ${c.provider} has no status call: cannot be probed` };
          return { group: 'connection', name, status: r.healthy ? 'ok' : 'fail', detail: `${c.provider}: ${r.detail}` };
        } catch (err) {
          return { group: 'connection', name, status: 'fail', detail: message(err) };
        }
      };
      return Promise.all([probed(), discoveryCheck(config, registry, name)]);
    }),
  );
  return checks.flat();
}

/** Whether discovery can work here: the platform lists running executions, and (when on) its first page reads. */
async function discoveryCheck(config: WatchdogConfig, registry: ProviderRegistry, name: string): Promise<Check> {
  const c = config.connections.get(name)!;
  const check = (status: Check['status'], detail: string): Check => ({ group: 'connection', name: `${name} discovery`, status, detail });
  if (!isListable(config, c.provider)) return check('skip', `${c.provider} documents no list of running executions: only tracked runs are watched`);
  if (!c.discover) return check('skip', `off (the platform lists running executions: add connections.${name}.discover to track runs nobody tracked)`);
  try {
    const page = await registry.forConnection(name).list!(undefined);
    if (page.kind !== 'page')
      return check('fail', `the list answered ${page.kind}${'error' in page ? `: ${page.error}` : 'httpStatus' in page ? ` (HTTP ${page.httpStatus})` : ''}`);
    return check('ok', `every ${c.discover.every} under policy ${c.discover.policy ?? config.defaultPolicy}; first page: ${page.runs.length} running`);
  } catch (err) {
    return check('fail', message(err));
  }
}

export async function slackChecks(config: WatchdogConfig, secrets: SecretSource): Promise<Check[]> {
  const targets = [...config.notify.entries()].filter(([, t]) => t.type === 'slack');
  return Promise.all(
    targets.map(async ([name, t]): Promise<Check> => {
      if (t.type !== 'slack') throw new Error('unreachable');
      try {
        const token = await readSecretField(secrets, t.tokenSecret, 'botToken');
        const client = new HttpClient(t.apiUrl ?? 'https://slack.com/api', { attempts: 1, timeoutMs: 5_000 });
        const res = await client.request('POST', '/auth.test', { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' }, '{}');
        const body = res.json as { ok?: boolean; error?: string; team?: string; user?: string } | undefined;
        if (res.status !== 200 || !body?.ok) return { group: 'slack', name, status: 'fail', detail: `auth.test: ${body?.error ?? `HTTP ${res.status}`}` };
        const who = `bot token valid (${body.user ?? '?'} in ${body.team ?? '?'})`;
        // Can it post to the channel? Public: yes with chat:write.public; private: only once invited.
        const list = await client.request('GET', '/conversations.list?types=public_channel,private_channel&exclude_archived=true&limit=1000', {
          authorization: `Bearer ${token}`,
        });
        const channels = list.json as
          { ok?: boolean; error?: string; channels?: Array<{ id: string; name: string; is_private?: boolean; is_member?: boolean }> } | undefined;
        if (!channels?.ok)
          return {
            group: 'slack',
            name,
            status: 'skip',
            detail: `${who}; channel ${t.channel} not checked (${channels?.error ?? `HTTP ${list.status}`}: add the channels:read and groups:read scopes to let doctor check)`,
          };
        const ref = t.channel.replace(/^#/, '');
        const ch = channels.channels?.find((c) => c.id === t.channel || c.name === ref);
        if (!ch)
          return {
            group: 'slack',
            name,
            status: 'fail',
            detail: `${who}; cannot post to ${t.channel}: not found (a private channel the bot is not in? invite it: /invite @watchdog)`,
          };
        if (ch.is_private && !ch.is_member)
          return {
            group: 'slack',
            name,
            status: 'fail',
            detail: `${who}; cannot post to ${t.channel}: private channel the bot is not in (invite it: /invite @watchdog)`,
          };
        return {
          group: 'slack',
          name,
          status: 'ok',
          detail: `${who}; can post to ${t.channel}${ch.is_private ? ' (member)' : ch.is_member ? '' : ' (public: chat:write.public)'}`,
        };
      } catch (err) {
        return { group: 'slack', name, status: 'fail', detail: message(err) };
      }
    }),
  );
}

export async function tableChecks(rt: Runtime, local: boolean): Promise<Check[]> {
  const { client, name } = rt.table;
  const out: Check[] = [];
  try {
    const d = (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
    const keys = (d?.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
    // Compared with the store's own definition (src/store/table.ts): keys and projections.
    const shape = (g: {
      KeySchema?: Array<{ AttributeName?: string; KeyType?: string }>;
      Projection?: { ProjectionType?: string; NonKeyAttributes?: string[] };
    }) =>
      `${(g.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',')} ${g.Projection?.ProjectionType ?? '?'}${g.Projection?.NonKeyAttributes ? `(${[...g.Projection.NonKeyAttributes].sort().join(',')})` : ''}`;
    const indexes = new Map((d?.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName, shape(g)]));
    const want = INDEXES.map(
      (i) =>
        [
          i.name,
          shape({
            KeySchema: [
              { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: i.projection, ...(i.include ? { NonKeyAttributes: [...i.include] } : {}) },
          }),
        ] as const,
    );
    const wrong = [
      ...(keys === `${TABLE_KEYS.partitionKey.name}:HASH,${TABLE_KEYS.sortKey.name}:RANGE` ? [] : [`key schema ${keys}`]),
      ...want
        .filter(([n, k]) => indexes.get(n) !== k)
        .map(
          ([n, k]) =>
            `index ${n} ${indexes.has(n) ? `is ${indexes.get(n)}, expected ${k} (a table from an older version: see docs/deploy.md "Upgrading")` : 'missing'}`,
        ),
    ];
    out.push({
      group: 'table',
      name,
      status: wrong.length === 0 ? 'ok' : 'fail',
      detail: wrong.length === 0 ? `keys ${TABLE.pk}/${TABLE.sk}, indexes ${INDEXES.map((i) => i.name).join(' and ')}` : wrong.join('; '),
    });
  } catch (err) {
    return [{ group: 'table', name, status: 'fail', detail: message(err) }];
  }
  if (local) {
    out.push({ group: 'table', name: `${name} TTL`, status: 'skip', detail: 'local engine: expired items are not removed (no TTL to check)' });
    return out;
  }
  try {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    const d = ttl.TimeToLiveDescription;
    const on = d?.TimeToLiveStatus === 'ENABLED' && d.AttributeName === TABLE.ttl;
    out.push({
      group: 'table',
      name: `${name} TTL`,
      status: on ? 'ok' : 'fail',
      detail: on
        ? `TTL on ${TABLE.ttl}`
        : `TTL is ${d?.TimeToLiveStatus ?? 'off'}${d?.AttributeName ? ` on ${d.AttributeName}` : ''}; expected ENABLED on ${TABLE.ttl}`,
    });
  } catch (err) {
    out.push({ group: 'table', name: `${name} TTL`, status: 'fail', detail: message(err) });
  }
  return out;
}

export async function deployedCheck(rt: Runtime): Promise<Check> {
  try {
    const running = await readRunningConfig(rt.table.client, rt.table.name);
    if (!running) return { group: 'deployed', name: 'config', status: 'skip', detail: 'no sweeper has recorded its config in this table yet' };
    const same = running.sha256 === rt.config.sha256;
    return {
      group: 'deployed',
      name: 'config',
      status: same ? 'ok' : 'fail',
      detail: same
        ? `the running sweeper (${running.by}) uses this file`
        : `the running sweeper (${running.by}, since ${new Date(running.at).toISOString()}) uses another config: deploy this file or check which one you edited`,
    };
  } catch (err) {
    return { group: 'deployed', name: 'config', status: 'fail', detail: message(err) };
  }
}

/** Lambda keeps this much of an account's concurrency unreserved, whatever is asked. */
export const LAMBDA_UNRESERVED_MINIMUM = 100;

/**
 * The account's Lambda concurrency (GetAccountSettings), against what the construct may
 * reserve: nothing by default; `webhookConcurrency` / `sweeperConcurrency` need the quota to
 * keep 100 unreserved after them. Informational unless the settings cannot be read.
 */
export async function accountCheck(region: string | undefined): Promise<Check> {
  const name = 'lambda concurrency';
  try {
    const { LambdaClient, GetAccountSettingsCommand } = await import('@aws-sdk/client-lambda');
    const client = new LambdaClient({
      ...(region ? { region } : {}),
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true },
    });
    const limit = (await client.send(new GetAccountSettingsCommand({}))).AccountLimit;
    client.destroy();
    const quota = limit?.ConcurrentExecutions ?? 0;
    const unreserved = limit?.UnreservedConcurrentExecutions ?? quota;
    const room = unreserved - LAMBDA_UNRESERVED_MINIMUM;
    return {
      group: 'account',
      name,
      status: 'ok',
      detail:
        room > 0
          ? `quota ${quota}, ${unreserved} unreserved: webhookConcurrency + sweeperConcurrency may reserve up to ${room} in all (Lambda keeps ${LAMBDA_UNRESERVED_MINIMUM} unreserved)`
          : `quota ${quota}, ${unreserved} unreserved: leave webhookConcurrency and sweeperConcurrency unset (Lambda keeps ${LAMBDA_UNRESERVED_MINIMUM} unreserved; the stack deploys without them); ask for a higher quota to reserve`,
    };
  } catch (err) {
    return { group: 'account', name, status: 'skip', detail: `not read (${message(err)}): lambda:GetAccountSettings shows what may be reserved` };
  }
}

export async function doctor(rt: Runtime, o: { local: boolean; region?: string }): Promise<Check[]> {
  const [secrets, connections, slack, table, deployed, account] = await Promise.all([
    secretChecks(rt.config, rt.secrets),
    connectionChecks(rt.config, rt.secrets),
    slackChecks(rt.config, rt.secrets),
    tableChecks(rt, o.local),
    deployedCheck(rt),
    o.local ? undefined : accountCheck(o.region),
  ]);
  return oneAwsAccessCause([
    { group: 'config', name: 'config', status: 'ok', detail: `valid (${rt.config.policies.length} policies, ${rt.config.connections.size} connections)` },
    ...secrets,
    ...connections,
    ...slack,
    ...table,
    deployed,
    ...(account ? [account] : []),
  ]);
}

/** An AWS SDK's "no region" or "no credentials": one cause, however many checks it fails. */
export const AWS_ACCESS = /Region is missing|Could not load credentials|Unable to locate credentials/;
export const AWS_ACCESS_HINT =
  'give a region (--region or AWS_REGION) and credentials (AWS_PROFILE, environment, SSO), or a settings.secretsFile for local secrets';

/** Checks failed only because there is no AWS access: one ✗ that says so, not one per check. */
function oneAwsAccessCause(checks: Check[]): Check[] {
  const blocked = checks.filter((c) => c.status === 'fail' && AWS_ACCESS.test(c.detail));
  if (blocked.length < 2) return checks;
  const cause = AWS_ACCESS.exec(blocked[0]!.detail)![0];
  return [
    ...checks.filter((c) => !blocked.includes(c)),
    {
      group: 'aws',
      name: 'access',
      status: 'fail',
      detail: `${cause}: secrets are read from AWS Secrets Manager; ${AWS_ACCESS_HINT} (${blocked.length} checks need it and were not run)`,
    },
  ];
}

const MARK: Record<CheckStatus, string> = { ok: '✓', fail: '✗', skip: '–' };

export function doctorText(checks: readonly Check[]): string {
  return checks.map((c) => `${MARK[c.status]} ${c.group === 'config' ? 'config' : `${c.group} ${c.name}`}: ${c.detail}`).join('\n');
}
