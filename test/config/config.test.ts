import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEMO_CONFIG, resolveConfigPath } from '../../src/cli/context.js';
import { loadConfig, parseConfigText } from '../../src/config/file.js';
import { compileConfig, placeholders, selectPolicy } from '../../src/config/load.js';
import { notifyUrl } from '../../src/config/schema.js';
import { parseDuration, formatDuration } from '../../src/core/duration.js';
import { ConfigError } from '../../src/errors.js';

const EXAMPLE = path.resolve('examples/watchdog.yaml');

function problems(raw: unknown): string[] {
  try {
    compileConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const minimal = () => ({
  connections: { cat: { provider: 'catalyzed', secret: 's' } },
  policies: [{ name: 'default', maxRuntime: '1h' }],
});

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['45m', 2_700_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    ['250ms', 250],
  ])('%s', (t, ms) => {
    expect(parseDuration(t)).toBe(ms);
  });
  it.each(['forever', '', '10', '-5m', '5 m x', '0s', 'm'])('rejects %j', (t) => expect(parseDuration(t)).toBeUndefined());
  it('formats compactly', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_000)).toBe('1m30s');
  });
});

describe('config', () => {
  it('the shipped example is valid', () => {
    const c = loadConfig(EXAMPLE);
    expect(c.policies.map((p) => p.name)).toEqual(['llm-batch', 'training', 'etl', 'discovered', 'default']);
    expect(c.policies[0]?.maxRuntimeMs).toBe(7_200_000);
  });

  it('approval mode: defaults compiled (30m, onSilence cancel); its settings on a cancelling policy, or a ceiling below the limit, are errors', () => {
    const c = compileConfig({ ...minimal(), policies: [{ name: 'default', maxRuntime: '1h', onBreach: 'approve' }] });
    expect(c.policies[0]).toMatchObject({ onBreach: 'approve', approveWithinMs: 1_800_000, onSilence: 'cancel' });
    expect(problems({ ...minimal(), policies: [{ name: 'default', maxRuntime: '1h', onSilence: 'keep', hardMaxCostUsd: 5, maxCostUsd: 1 }] })).toEqual([
      'policies[0].onSilence: applies only with onBreach: approve (policy "default" cancels at a breach)',
      'policies[0].hardMaxCostUsd: applies only with onBreach: approve (policy "default" cancels at a breach)',
    ]);
    expect(problems({ ...minimal(), policies: [{ name: 'default', onBreach: 'approve', maxCostUsd: 50, hardMaxCostUsd: 40 }] })).toEqual([
      'policies[0].hardMaxCostUsd: must be at least maxCostUsd (50): past the ceiling no approval is asked',
    ]);
  });

  it('the digest names chat or webhook targets that exist', () => {
    const raw = (to: string[]) => ({
      ...minimal(),
      notify: { chat: { type: 'webhook', url: 'https://x.example/h', secret: 's' }, pager: { type: 'pagerduty', routingKeySecret: 'p' } },
      settings: { digest: { to } },
    });
    expect(compileConfig(raw(['chat'])).settings.digest).toEqual({ to: ['chat'], everyMs: 7 * 86_400_000 });
    expect(problems(raw(['chatt', 'pager']))).toEqual([
      'settings.digest.to[0]: unknown notify target "chatt" (did you mean "chat"?)',
      'settings.digest.to[1]: "pager" is an incident tool (pagerduty): a digest goes to chat or a webhook',
    ]);
  });

  it('an unknown key gets a "did you mean" from the keys known at its path', () => {
    const raw = { ...minimal(), setings: {}, policies: [{ name: 'default', maxRuntime: '1h', maxRuntme: '1h' }] };
    expect(problems(raw)).toEqual([
      'policies[0]: unknown key "maxRuntme" (did you mean "maxRuntime"?)',
      '(root): unknown key "setings" (did you mean "settings"?)',
    ]);
  });

  it('names the path and the problem', () => {
    const raw = minimal();
    raw.policies.push({ name: 'a', maxRuntime: '1h' }, { name: 'b', maxRuntime: 'forever' });
    expect(problems(raw)).toEqual(['policies[2].maxRuntime: expected a duration like "45m", got "forever"']);
  });

  it('reports every problem at once, each with its path', () => {
    const raw = {
      settings: { shards: 0, sweepEvery: 'often' },
      connections: { cat: { provider: 'nope', secret: 's', baseUrl: 'http://evil.example.com' } },
      policies: [
        { name: 'default', maxRuntme: '1h', maxRuntime: '1h' },
        { name: 'x', notify: ['ghost'], match: { connection: 'missing' } },
      ],
      defaultPolicy: 'default',
    };
    const p = problems(raw);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^settings\.shards: /),
        'settings.sweepEvery: expected a duration like "45m", got "often"',
        expect.stringMatching(/^connections\.cat\.baseUrl: expected an https:\/\/ URL/),
        'policies[0]: unknown key "maxRuntme" (did you mean "maxRuntime"?)',
        // Cross references in the same run, not after the shape is fixed.
        expect.stringMatching(/^connections\.cat\.provider: unknown provider "nope"/),
        'policies[1]: a policy needs at least one limit: maxRuntime, stallAfter, heartbeatTimeout or maxCostUsd',
        'policies[1].match.connection: unknown connection "missing"',
        'policies[1].notify[0]: unknown notify target "ghost"',
      ]),
    );
    expect(p.length).toBe(8);
  });

  it('near-miss names get a "did you mean"', () => {
    const p = problems({
      connections: { 'kodexa-acme': { provider: 'kodexx', secret: 's', baseUrl: 'https://k.example' } },
      notify: { oncall: { type: 'webhook', url: 'https://h.example', secret: 's' } },
      policies: [{ name: 'default', maxRuntime: '1h', notify: ['oncal'], match: { connection: 'kodexa-acm' } }],
      defaultPolicy: 'defualt',
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^connections\.kodexa-acme\.provider: unknown provider "kodexx" \(did you mean "kodexa"\?\)/),
        'policies[0].notify[0]: unknown notify target "oncal" (did you mean "oncall"?)',
        'policies[0].match.connection: unknown connection "kodexa-acm" (did you mean "kodexa-acme"?)',
        expect.stringMatching(/^defaultPolicy: no policy named "defualt" \(did you mean "default"\?\)/),
      ]),
    );
  });

  it('checks cross references once the shape is right', () => {
    const raw = {
      connections: { cat: { provider: 'nope', secret: 's' } },
      policies: [
        { name: 'default', maxRuntime: '1h' },
        { name: 'x', notify: ['ghost'], match: { connection: 'missing' } },
        { name: 'default', stallAfter: '5m' },
      ],
      defaultPolicy: 'main',
    };
    expect(problems(raw).sort()).toEqual([
      'connections.cat.provider: unknown provider "nope"; expected one of catalyzed, kodexa, ionworks, superglue, meibel',
      'defaultPolicy: no policy named "main"; expected one of default, x',
      'policies[1].match.connection: unknown connection "missing"',
      'policies[1].notify[0]: unknown notify target "ghost"',
      'policies[1]: a policy needs at least one limit: maxRuntime, stallAfter, heartbeatTimeout or maxCostUsd',
      'policies[2].name: duplicate policy name "default"',
    ]);
  });

  it('a config that cannot be parsed is an error, never "no limit"', () => {
    expect(() => parseConfigText('policies: [\n  {name: a', 'bad.yaml')).toThrow(ConfigError);
    expect(problems({})).toEqual(['connections: required (record)', 'policies: required (array)']);
    expect(() => loadConfig('/nonexistent/watchdog.yaml')).toThrow(/cannot read \(ENOENT\)/);
  });

  it('global dryRun forces every policy to dry-run', () => {
    const c = compileConfig({ ...minimal(), settings: { dryRun: true } });
    expect(c.policies[0]?.mode).toBe('dry-run');
  });

  describe('policy selection', () => {
    const c = loadConfig(EXAMPLE);
    it('explicit name wins', () => expect(selectPolicy(c, { connection: 'catalyzed-prod', policy: 'etl' }).name).toBe('etl'));
    it('first matching rule by labels', () =>
      expect(selectPolicy(c, { connection: 'catalyzed-prod', labels: { team: 'ml', kind: 'batch', x: 'y' } }).name).toBe('llm-batch'));
    it('partial label match does not count', () => expect(selectPolicy(c, { connection: 'catalyzed-prod', labels: { team: 'ml' } }).name).toBe('default'));
    it('by provider', () => expect(selectPolicy(c, { connection: 'meibel-prod' }).name).toBe('etl'));
    it('else the default', () => expect(selectPolicy(c, { connection: 'kodexa-acme' }).name).toBe('default'));
    it('unknown explicit policy lists the valid ones', () =>
      expect(() => selectPolicy(c, { connection: 'kodexa-acme', policy: 'nope' })).toThrow(/expected one of llm-batch, training, etl, discovered, default/));
  });

  it('discovery: only where the platform lists running executions, under a policy that exists', () => {
    const withDiscover = (provider: string, discover: Record<string, unknown>, providers: Record<string, unknown> = {}) =>
      problems({ ...minimal(), providers, connections: { x: { provider, secret: 's', baseUrl: 'https://x.example', discover } } });
    expect(withDiscover('catalyzed', {})).toEqual([]);
    expect(withDiscover('superglue', { every: '10m', policy: 'default', labels: { found: 'yes' } })).toEqual([]);
    expect(withDiscover('kodexa', {})).toEqual([
      'connections.x.discover: provider "kodexa" has no list of running executions to discover from (built in for catalyzed, superglue)',
    ]);
    expect(withDiscover('superglue', { policy: 'defualt' })).toEqual([
      'connections.x.discover.policy: unknown policy "defualt" (did you mean "default"?); expected one of default',
    ]);
    expect(withDiscover('superglue', { every: 'often' })[0]).toMatch(/^connections\.x\.discover\.every: expected a duration/);
    const generic = { type: 'http', auth: { header: 'x-key' }, cancel: { path: '/j/{id}/cancel' } };
    expect(withDiscover('acme', {}, { acme: generic })).toEqual([
      'connections.x.discover: provider "acme" has no list of running executions to discover from: declare providers.acme.list',
    ]);
    const listed = {
      ...generic,
      list: { path: '/j?state=running', itemsPointer: '/items', idPointer: '/id', pagination: { type: 'cursor', param: 'after', pointer: '/next' } },
    };
    expect(withDiscover('acme', {}, { acme: listed })).toEqual([]);
    expect(withDiscover('acme', {}, { acme: { ...listed, list: { ...listed.list, pagination: { type: 'pages' } } } })[0]).toMatch(
      /^providers\.acme\.list\.pagination/,
    );
  });

  it('leaseDuration below 90s is refused with the reason', () => {
    expect(problems({ settings: { leaseDuration: '10s' }, connections: {}, policies: [{ name: 'default', maxRuntime: '1h' }] })).toEqual([
      'settings.leaseDuration: must be at least 90s: a claim has to outlive one provider exchange (status read and cancel, about 70 s at worst)',
    ]);
    expect(problems({ settings: { leaseDuration: '90s' }, connections: {}, policies: [{ name: 'default', maxRuntime: '1h' }] })).toEqual([]);
  });
});

describe('the demo config and the deploy template', () => {
  it('the demo config reaches only this machine: every connection, provider and notify URL is loopback', () => {
    const c = loadConfig(path.resolve('examples/demo.yaml'));
    const urls = [
      ...[...c.connections.values()].map((x) => x.baseUrl),
      ...[...c.providers.values()].map((p) => p.baseUrl),
      ...[...c.notify.values()].map((t) => notifyUrl(t)),
    ];
    expect(urls.length).toBeGreaterThan(c.connections.size);
    for (const u of urls) expect(new URL(u ?? 'https://slack.com/api').hostname, u).toBe('127.0.0.1');
  });

  it('the template is the demo with placeholders: the same connections, policies and routes, no local-only settings', () => {
    const demo = loadConfig(path.resolve('examples/demo.yaml'));
    const template = loadConfig(EXAMPLE);
    expect([...template.connections.keys()]).toEqual([...demo.connections.keys()]);
    expect(template.policies.map((p) => p.name)).toEqual(demo.policies.map((p) => p.name));
    expect(template.settings.secretsFile).toBeUndefined();
    expect(placeholders(parseConfigText(readFileSync(EXAMPLE, 'utf8'), EXAMPLE)).length).toBeGreaterThan(0);
    expect(placeholders(parseConfigText(readFileSync('examples/demo.yaml', 'utf8'), 'demo'))).toEqual([]);
  });

  it('the CLI: -c, $WATCHDOG_CONFIG, ./watchdog.yaml, then the demo; the demo itself never takes ./watchdog.yaml', () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'wd-resolve-'));
    const env = process.env.WATCHDOG_CONFIG;
    delete process.env.WATCHDOG_CONFIG;
    try {
      expect(resolveConfigPath(undefined, { cwd })).toBe(DEMO_CONFIG);
      writeFileSync(path.join(cwd, 'watchdog.yaml'), readFileSync(EXAMPLE, 'utf8'));
      expect(resolveConfigPath(undefined, { cwd })).toBe('watchdog.yaml');
      expect(resolveConfigPath(undefined, { demo: true, cwd })).toBe(DEMO_CONFIG);
      expect(resolveConfigPath('mine.yaml', { demo: true, cwd })).toBe('mine.yaml');
      process.env.WATCHDOG_CONFIG = 'from-env.yaml';
      expect(resolveConfigPath(undefined, { demo: true, cwd })).toBe('from-env.yaml');
    } finally {
      if (env === undefined) delete process.env.WATCHDOG_CONFIG;
      else process.env.WATCHDOG_CONFIG = env;
    }
  });
});
