/**
 * `watchdog doctor` in process against the provider simulators, the Slack stand-in and an
 * embedded store: all ✓ when everything is right; exactly the broken things ✗ otherwise.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { loadConfig } from '../../src/config/file.js';
import { openTarget } from '../../src/local/target.js';
import { recordRunningConfig } from '../../src/store/meta.js';
import { PLATFORMS, type Servers, startServers } from '../helpers/world.js';

let servers: Servers;
let dir: string;
beforeAll(async () => {
  servers = await startServers();
  dir = mkdtempSync(path.join(os.tmpdir(), 'wd-doctor-'));
}, 30_000);
afterAll(async () => {
  await servers?.close();
});

function write(o: { dropSecret?: string; wrongUrl?: string } = {}): string {
  const secrets: Record<string, unknown> = { slack: { botToken: 'xoxb-test-token', signingSecret: 's' }, hooks: { signingSecret: 'h' } };
  for (const p of PLATFORMS) if (p !== o.dropSecret) secrets[`key-${p}`] = { apiKey: servers.sims[p].apiKey };
  const file = path.join(dir, `watchdog-${Object.values(o).join('-') || 'ok'}.json`);
  const connections = Object.fromEntries(
    PLATFORMS.map((p) => [
      `${p}-c`,
      {
        provider: p,
        baseUrl: p === o.wrongUrl ? 'http://127.0.0.1:1/' : servers.sims[p].url,
        secret: `key-${p}`,
        ...(p === 'superglue' ? { discover: {} } : {}),
      },
    ]),
  );
  writeFileSync(path.join(dir, `secrets-${Object.values(o).join('-') || 'ok'}.json`), JSON.stringify(secrets));
  writeFileSync(
    file,
    JSON.stringify({
      settings: { secretsFile: `secrets-${Object.values(o).join('-') || 'ok'}.json`, dataDir: 'data' },
      connections,
      notify: { chat: { type: 'slack', channel: '#oncall', tokenSecret: 'slack', apiUrl: servers.slack.apiUrl } },
      webhook: { slack: { secret: 'slack' }, hooks: { secret: 'hooks' } },
      policies: [{ name: 'default', maxRuntime: '1h', notify: ['chat'] }],
    }),
  );
  return file;
}

async function doctor(file: string, json = false): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await runCli(['-c', file, ...(json ? ['--json'] : []), 'doctor'], { out: (s) => out.push(s), err: (s) => out.push(s) });
  return { code, out: out.join('\n') };
}

describe('watchdog doctor', () => {
  it('all ✓ when config, secrets, connections, Slack, table and the running config agree', async () => {
    const file = write();
    const config = loadConfig(file);
    const target = await openTarget({ dataDir: config.settings.dataDir, defaultTable: config.settings.tableName });
    await recordRunningConfig(target.client, target.tableName, { sha256: config.sha256, by: 'test sweeper', at: Date.now() });
    await target.close();
    const r = await doctor(file);
    expect(r.out).not.toContain('✗');
    expect(r.code).toBe(0);
    for (const p of PLATFORMS) expect(r.out).toMatch(new RegExp(`✓ connection ${p}-c: ${p}: reachable, credentials accepted`));
    // Discovery, said per connection: on and reading, possible but off, or not possible on this platform.
    expect(r.out).toMatch(/✓ connection superglue-c discovery: every 5m under policy default; first page: 0 running/);
    expect(r.out).toMatch(/– connection catalyzed-c discovery: off \(the platform lists running executions/);
    for (const p of ['kodexa', 'ionworks', 'meibel'])
      expect(r.out).toMatch(new RegExp(`– connection ${p}-c discovery: ${p} documents no list of running executions`));
    expect(r.out).toMatch(/✓ slack chat: bot token valid/);
    expect(r.out).toMatch(/✓ deployed config: the running sweeper \(test sweeper\) uses this file/);
    expect(r.out).toMatch(/all checks passed/);
  }, 30_000);

  it('one secret removed and one base URL wrong: exactly those ✗ lines (and the config that differs from the running one), exit 1', async () => {
    const file = write({ dropSecret: 'kodexa', wrongUrl: 'meibel' });
    const r = await doctor(file);
    expect(r.code).toBe(1);
    const failed = r.out.split('\n').filter((l) => l.startsWith('✗'));
    expect(failed).toEqual([
      expect.stringMatching(/^✗ secret key-kodexa \(apiKey\): secret "key-kodexa" is not in .* \(needed by connection kodexa-c\)$/),
      expect.stringMatching(/^✗ connection kodexa-c: kodexa: cannot read the connection's secret/),
      expect.stringMatching(/^✗ connection meibel-c: meibel: unreachable: /),
      expect.stringMatching(/^✗ deployed config: the running sweeper \(test sweeper, since .*\) uses another config/),
    ]);
    const json = JSON.parse((await doctor(file, true)).out) as { ok: boolean; checks: Array<{ status: string }> };
    expect(json.ok).toBe(false);
    expect(json.checks.filter((c) => c.status === 'fail')).toHaveLength(4);
  }, 30_000);

  it('Slack: a private channel the bot was not invited to is a ✗ that says so', async () => {
    const file = write();
    const before = servers.slack.channels.map((c) => ({ ...c }));
    servers.slack.channels.splice(0, servers.slack.channels.length, { id: 'G0ONCALL', name: 'oncall', is_private: true, is_member: false });
    try {
      const r = await doctor(file);
      expect(r.out.split('\n').filter((l) => l.startsWith('✗'))).toEqual([
        expect.stringMatching(
          /^✗ slack chat: bot token valid .*; cannot post to #oncall: private channel the bot is not in \(invite it: \/invite @watchdog\)$/,
        ),
      ]);
      servers.slack.channels[0]!.is_member = true;
      expect((await doctor(file)).out).toMatch(/✓ slack chat: .*can post to #oncall \(member\)/);
    } finally {
      servers.slack.channels.splice(0, servers.slack.channels.length, ...before);
    }
  }, 30_000);

  it('a broken config: every problem as a ✗ line, exit 1', async () => {
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(file, 'connections: { k: { provider: kodexx, secret: s } }\npolicies: [{ name: default, maxRuntime: soon, notify: [ghost] }]\n');
    const r = await doctor(file);
    expect(r.code).toBe(1);
    expect(r.out.split('\n')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^✗ config: policies\[0\]\.maxRuntime: expected a duration/),
        expect.stringMatching(/^✗ config: connections\.k\.provider: unknown provider "kodexx" \(did you mean "kodexa"\?\)/),
        expect.stringMatching(/^✗ config: policies\[0\]\.notify\[0\]: unknown notify target "ghost"/),
      ]),
    );
  });
});

describe('watchdog doctor: the account', () => {
  it("reads the account's Lambda concurrency (GetAccountSettings) and says what the construct may reserve", async () => {
    const http = await import('node:http');
    const { accountCheck } = await import('../../src/cli/doctor.js');
    let limit = { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 };
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          AccountLimit: { ...limit, TotalCodeSize: 1, CodeSizeUnzipped: 1, CodeSizeZipped: 1 },
          AccountUsage: { TotalCodeSize: 0, FunctionCount: 0 },
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
    });
    try {
      const low = await accountCheck('eu-west-1');
      expect(low).toMatchObject({
        group: 'account',
        status: 'ok',
        detail: expect.stringMatching(/^quota 10, 10 unreserved: leave webhookConcurrency and sweeperConcurrency unset/),
      });
      limit = { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 990 };
      expect((await accountCheck('eu-west-1')).detail).toMatch(/^quota 1000, 990 unreserved: webhookConcurrency \+ sweeperConcurrency may reserve up to 890/);
      expect(paths[0]).toMatch(/^GET \/2016-08-19\/account-settings/);
    } finally {
      process.env = saved;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    // No endpoint answering: a skip that says what to grant, never a failure.
    const none = await accountCheck('eu-west-1');
    expect(none.status).toBe('skip');
  }, 30_000);
});

describe('watchdog doctor: the deploy template as copied', () => {
  it('flags every REPLACE-ME left, and a missing AWS region or credentials once, not once per secret', async () => {
    const tplDir = mkdtempSync(path.join(os.tmpdir(), 'wd-template-'));
    const file = path.join(tplDir, 'watchdog.yaml');
    writeFileSync(file, readFileSync('examples/watchdog.yaml', 'utf8'));
    const saved = { ...process.env };
    for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[k];
    Object.assign(process.env, { AWS_CONFIG_FILE: path.join(tplDir, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(tplDir, 'none') });
    try {
      const r = await doctor(file);
      expect(r.code).toBe(1);
      const lines = r.out.split('\n');
      expect(lines.filter((l) => l.includes('is a placeholder: fill it in'))).toEqual([
        '✗ config: connections.kodexa-acme.baseUrl: "https://REPLACE-ME.invalid" is a placeholder: fill it in',
        '✗ config: providers.acme-batch.baseUrl: "https://REPLACE-ME.invalid" is a placeholder: fill it in',
        '✗ config: notify.oncall-slack.channel: "#REPLACE-ME" is a placeholder: fill it in',
        '✗ config: notify.incident-hook.url: "https://REPLACE-ME.invalid/watchdog" is a placeholder: fill it in',
        '✗ config: policies[0].allow.users[0]: "REPLACE-ME" is a placeholder: fill it in',
        '✗ config: policies[0].allow.channels[0]: "REPLACE-ME" is a placeholder: fill it in',
        '✗ config: policies[1].allow.users[0]: "REPLACE-ME" is a placeholder: fill it in',
        '✗ config: policies[3].allow.users[0]: "REPLACE-ME" is a placeholder: fill it in',
        '✗ config: policies[4].allow.users[0]: "REPLACE-ME" is a placeholder: fill it in',
      ]);
      const aws = lines.filter((l) => /Region is missing/.test(l));
      expect(aws).toEqual([
        expect.stringMatching(
          /^✗ aws access: Region is missing: secrets are read from AWS Secrets Manager; give a region .* \(\d+ checks need it and were not run\)$/,
        ),
      ]);
    } finally {
      process.env = saved;
    }
  });
});
