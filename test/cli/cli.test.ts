import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { openEmbedded } from '../../src/local/target.js';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = path.resolve('bin/watchdog.mjs');

async function watchdog(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, WATCHDOG_CONFIG: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('watchdog CLI (embedded store, no AWS account)', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'wd-cli-'));
  const d = ['--data-dir', dataDir];

  it('track, then list and show it; json for scripts', async () => {
    const t = await watchdog([...d, 'track', 'catalyzed-prod', 'run-42', '--label', 'team=ml', '--label', 'kind=batch', '--max-runtime', '30m']);
    expect(t.stderr).toBe('');
    expect(t.stdout).toMatch(/^tracking wd_[a-z0-9]{12} \(catalyzed-prod\/run-42, policy llm-batch, running\)/);
    const again = await watchdog([...d, 'track', 'catalyzed-prod', 'run-42']);
    expect(again.stdout).toMatch(/^already tracked/);
    const hb = await watchdog([...d, 'heartbeat', 'catalyzed-prod/run-42', '--progress', '12/50', '--cost', '2.5', '--message', 'epoch 3']);
    expect(hb.code).toBe(0);
    const list = await watchdog([...d, 'list']);
    expect(list.stdout).toMatch(/catalyzed-prod\s+run-42\s+llm-batch\s+running\s+\S+\/30m\s+24%\s+\$2\.50/);
    const json = JSON.parse((await watchdog([...d, '--json', 'list', '--label', 'team=ml'])).stdout) as { items: Array<{ externalId: string }> };
    expect(json.items.map((i) => i.externalId)).toEqual(['run-42']);
    const show = await watchdog([...d, 'show', 'catalyzed-prod/run-42']);
    // A heartbeat is counted on the execution, not written to the audit trail (docs/cost.md).
    expect(show.stdout).toMatch(/heartbeat +\S+ \(1 received\) +progress 24%/);
    expect(show.stdout).toMatch(/message +"epoch 3"/);
    expect(show.stdout).toMatch(/audit:\n.*tracked — policy llm-batch\n$/);
  }, 30_000);

  it('list is in tracking order; --version says the package version', async () => {
    const order = mkdtempSync(path.join(os.tmpdir(), 'wd-order-'));
    const ids = ['zeta', 'alpha', 'mu', 'beta', 'omega', 'kappa'];
    for (const id of ids) expect((await watchdog(['--data-dir', order, 'track', 'kodexa-acme', id])).code).toBe(0);
    const json = JSON.parse((await watchdog(['--data-dir', order, '--json', 'list'])).stdout) as { items: Array<{ externalId: string }> };
    expect(json.items.map((i) => i.externalId)).toEqual(ids);
    const v = await watchdog(['--version']);
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  }, 60_000);

  it('a store held by another process names its pid', async () => {
    const held = mkdtempSync(path.join(os.tmpdir(), 'wd-held-'));
    const engine = await openEmbedded(held);
    try {
      const r = await watchdog(['--data-dir', held, 'list']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`is in use by another process (pid ${process.pid})`);
    } finally {
      await engine.close();
    }
  });

  it('errors exit non-zero with a one-line reason and change nothing', async () => {
    const snapshot = async () =>
      (JSON.parse((await watchdog([...d, '--json', 'list'])).stdout) as { items: Array<{ id: string; version: number; state: string }> }).items
        .map((e) => `${e.id}@${e.version}:${e.state}`)
        .sort();
    const before = await snapshot();
    const loose = await watchdog([...d, 'track', 'kodexa-acme', 'k1', '--max-runtime', '9h']);
    expect(loose.code).toBe(1);
    expect(loose.stderr.trim().split('\n')).toEqual([
      'watchdog: limits rejected: maxRuntime 9h is looser than policy "default" allows (4h); per-execution limits may only tighten',
    ]);
    const unknown = await watchdog([...d, 'track', 'nope', 'k1']);
    expect(unknown.stderr).toMatch(/^watchdog: unknown connection "nope"; expected one of catalyzed-prod/);
    expect((await watchdog([...d, 'show', 'kodexa-acme/k1'])).stderr).toMatch(/no tracked execution/);
    expect((await watchdog([...d, 'heartbeat', 'catalyzed-prod/run-42', '--progress', 'lots'])).code).toBe(1);
    for (const cmd of ['start', 'serve']) {
      const port = await watchdog([...d, cmd, '--port', '70000']);
      expect(port.code).toBe(1);
      expect(port.stderr.trim()).toBe('watchdog: --port expects 0-65535, got "70000"');
    }
    // Nothing was tracked, and nothing tracked moved (same ids, versions, states).
    expect(await snapshot()).toEqual(before);
  }, 30_000);

  it('config validate accepts the example and names every broken path', async () => {
    const ok = await watchdog(['config', 'validate', 'examples/watchdog.yaml']);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/valid \(5 policies, 5 connections\)/);
    const bad = path.join(dataDir, 'bad.yaml');
    writeFileSync(
      bad,
      'connections:\n  a: { provider: catalyzed, secret: s }\npolicies:\n  - { name: default, maxRuntime: 1h }\n  - { name: b, maxRuntime: 1h }\n  - { name: c, maxRuntime: forever, warnAt: 2 }\n',
    );
    const res = await watchdog(['config', 'validate', bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('watchdog: policies[2].maxRuntime: expected a duration like "45m", got "forever"');
    expect(res.stderr).toMatch(/watchdog: policies\[2\]\.warnAt: /);
  }, 30_000);

  it('provider cancel against a running simulator: exit 0 only for good outcomes', async () => {
    const { startSimulator } = await import('../../src/simulators/server.js');
    const sim = await startSimulator('superglue', { apiKey: 'sg-test-key' });
    sim.add({ id: 'run-7' });
    sim.add({ id: 'old-7', state: 'succeeded' });
    const base = ['provider', 'cancel', 'superglue'];
    const flags = ['--base-url', sim.url, '--api-key-env', 'SG_KEY'];
    process.env.SG_KEY = 'sg-test-key';
    try {
      const ok = await watchdog([...base, 'run-7', ...flags]);
      expect(ok).toMatchObject({ code: 0 });
      expect(ok.stdout).toMatch(/superglue cancel run-7: cancelled \(aborted\)/);
      expect(sim.executions.get('run-7')?.state).toBe('cancelled');
      const done = await watchdog([...base, 'old-7', ...flags]);
      expect(done.stdout).toMatch(/already_finished \(success\)/);
      expect(done.code).toBe(0);
      process.env.SG_KEY = 'wrong';
      const denied = await watchdog([...base, 'run-7', ...flags]);
      expect(denied.code).toBe(1);
      expect(denied.stdout).toMatch(/unauthorized \(HTTP 401\)/);
    } finally {
      delete process.env.SG_KEY;
      await sim.close();
    }
  }, 30_000);

  it('--help lists the commands', async () => {
    const h = await watchdog(['--help']);
    expect(h.code).toBe(0);
    for (const c of ['track', 'heartbeat', 'finish', 'list', 'show', 'config', 'provider', 'start']) expect(h.stdout).toContain(c);
  });
});

describe('--region', () => {
  it('is the region of the secrets too: without it (and without AWS_REGION) Secrets Manager has none; with it the secret is read', async () => {
    const { startSecretsManager } = await import('../helpers/secrets-manager.js');
    const sm = await startSecretsManager({ 'watchdog/slack': '{"signingSecret": "region-test"}' });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-region-'));
    const config = path.join(dir, 'watchdog.json');
    writeFileSync(
      config,
      JSON.stringify({
        connections: { c: { provider: 'catalyzed', secret: 'watchdog/catalyzed' } },
        webhook: { slack: { secret: 'watchdog/slack' } },
        policies: [{ name: 'default', maxRuntime: '1h' }],
      }),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      WATCHDOG_CONFIG: '',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
      AWS_CONFIG_FILE: path.join(dir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
    };
    delete env.AWS_REGION;
    delete env.AWS_DEFAULT_REGION;
    const sign = async (extra: string[]) => {
      try {
        const { stdout } = await run(process.execPath, [BIN, '-c', config, ...extra, 'sign', 'slack', 'help'], { env });
        return { code: 0, out: stdout };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, out: e.stdout + e.stderr };
      }
    };
    try {
      const without = await sign([]);
      expect(without.code).not.toBe(0);
      // An expected fault, said as such: one line with what to do, not "unexpected error".
      expect(without.out.trim()).toMatch(/^watchdog: no AWS access \(Region is missing\): give a region \(--region or AWS_REGION\)/);
      const withRegion = await sign(['--region', 'eu-west-1']);
      expect(withRegion.code).toBe(0);
      expect(withRegion.out).toMatch(/^curl -s .*x-slack-signature: v0=/);
    } finally {
      await sm.close();
    }
  }, 30_000);
});
