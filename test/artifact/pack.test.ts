/**
 * The two npm packages as teams install them, in stock projects made the way their users
 * make them, outside the repository, with the README's code unchanged (read from the README
 * at its `<!-- pack-test: file -->` markers):
 *  - `runaway-watchdog` (the construct, the CLI): a `cdk init app --language typescript`
 *    app (CommonJS, TypeScript 7, tsx) installs the tarball, copies the deploy template and
 *    synthesizes with the README's stack;
 *  - `runaway-watchdog-client`: an `npm init` CommonJS project runs the README's CommonJS
 *    tracker, and an ESM TypeScript project compiles and runs the README's tracker, both
 *    against a live webhook (the handler `npm start` serves); the client's install size is
 *    printed as `client_install_kb`.
 * Needs the npm registry (cdk init installs its stock dependencies).
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import { serveWebhook, type Served } from '../../src/http/server.js';
import { Webhook } from '../../src/http/webhook.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { type Runtime, buildRuntime } from '../../src/runtime.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', WATCHDOG_CONFIG: '' };
const big = { env, maxBuffer: 64 * 1024 * 1024 };
const API_KEY = 'team-key';

/** A code block of the README, exactly as written: the one after `<!-- pack-test: <name> -->`. */
function readmeBlock(name: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- pack-test: ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(readme);
  if (!m) throw new Error(`README has no block marked pack-test: ${name}`);
  return `${m[1]}\n`;
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const s = statSync(path.join(dir, f));
    if (s.isFile()) total += s.size;
  }
  return total;
}

let tmp: string;
let serverTarball: string;
let clientTarball: string;
let engine: Engine;
let sim: Simulator;
let rt: Runtime;
let served: Served;
let client: ReturnType<typeof dynamoClient>;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'wd-pack-'));
  const packs = path.join(tmp, 'packs');
  mkdirSync(packs);
  // prepack builds each: dist/ (tsc + the Lambda bundles), packages/client/dist (ESM + CJS).
  await run('npm', ['pack', '--pack-destination', packs], { ...big, cwd: ROOT });
  await run('npm', ['pack', './packages/client', '--pack-destination', packs], { ...big, cwd: ROOT });
  const tarballs = readdirSync(packs);
  serverTarball = path.join(
    packs,
    tarballs.find((f) => f.startsWith('runaway-watchdog-0'))!,
  );
  clientTarball = path.join(
    packs,
    tarballs.find((f) => f.startsWith('runaway-watchdog-client-'))!,
  );

  [engine, sim] = await Promise.all([startDynalite(), startSimulator('kodexa', { apiKey: 'kx-key', kodexaCancelMs: 50 })]);
  client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, 'pack-table');
  const secrets = { get: async (name: string) => JSON.stringify(name === 'kx' ? { apiKey: 'kx-key' } : { apiKey: API_KEY }) };
  const config = compileConfig({
    settings: { confirmWithin: '5s' }, // Kodexa cancels asynchronously: its CANCELLED is confirmed within a second
    connections: { 'kodexa-acme': { provider: 'kodexa', baseUrl: sim.url, secret: 'kx' } },
    webhook: { api: { secret: 'api' } },
    policies: [{ name: 'default', maxRuntime: '2h' }],
  });
  rt = buildRuntime(config, { client, tableName: 'pack-table', secrets });
  served = await serveWebhook(new Webhook({ runtime: rt, secrets }), { port: 0, maxBodyBytes: 65536 });
}, 600_000);
afterAll(async () => {
  await served?.close();
  client?.destroy();
  await Promise.all([engine?.close(), sim?.close()]);
});

/** A stock `npm init` project (`npm pkg set type=module` for ESM) with only the client installed. */
async function clientProject(name: string, type: 'commonjs' | 'module'): Promise<string> {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  await run('npm', ['init', '-y'], { ...big, cwd: dir });
  if (type === 'module') await run('npm', ['pkg', 'set', 'type=module'], { ...big, cwd: dir });
  await run('npm', ['install', '--no-audit', '--no-fund', clientTarball], { ...big, cwd: dir });
  return dir;
}

/** A person cancels the run from chat; sweeps until the platform confirms. */
async function cancelAsPerson(ref: string): Promise<void> {
  const id = (await rt.watchdog.show(ref)).execution.id;
  await rt.watchdog.cancelNow(id, { id: 'slack:UONCALL', via: 'slack' }, 'eating the GPU budget');
  for (let i = 0; i < 50 && (await rt.store.get(id))?.state !== 'cancelled'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await rt.sweeper.run();
  }
  expect((await rt.store.get(id))?.state).toBe('cancelled');
}

it('each package holds what its users need and nothing of the repository', () => {
  const server = path.join(tmp, 'server');
  mkdirSync(server);
  return run('tar', ['-xzf', serverTarball, '-C', server]).then(async () => {
    const pkg = path.join(server, 'package');
    expect(readdirSync(pkg).sort()).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'bin', 'dist', 'docs', 'examples', 'openapi.json', 'package.json']);
    expect(readdirSync(path.join(pkg, 'examples')).sort()).toEqual(['demo.yaml', 'secrets.demo.json', 'watchdog.yaml']);
    expect(readdirSync(path.join(pkg, 'dist', 'assets')).sort()).toEqual(['sweeper', 'webhook']);
    const manifest = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { license: string };
    expect(manifest.license).toBe('Apache-2.0');
    const clientDir = path.join(tmp, 'client');
    mkdirSync(clientDir);
    await run('tar', ['-xzf', clientTarball, '-C', clientDir]);
    const c = path.join(clientDir, 'package');
    expect(readdirSync(c).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json']);
    const cm = JSON.parse(readFileSync(path.join(c, 'package.json'), 'utf8')) as { dependencies?: unknown; version: string; license: string };
    expect([cm.dependencies, cm.license, cm.version]).toEqual([
      undefined,
      'Apache-2.0',
      (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    ]);
    // The client bundles its signer and nothing else: node:crypto is its only import.
    const esm = readFileSync(path.join(c, 'dist', 'esm', 'client.js'), 'utf8');
    expect([...esm.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1])).toEqual(['node:crypto']);
  });
});

it('a stock `cdk init app --language typescript` app installs the package, copies the template and synthesizes with the README’s stack', async () => {
  const app = path.join(tmp, 'my-platform');
  mkdirSync(app);
  // As its users make it: cdk init (CommonJS, TypeScript, tsx, its own npm install).
  await run(process.execPath, [require.resolve('aws-cdk/bin/cdk'), 'init', 'app', '--language', 'typescript'], { ...big, cwd: app });
  await run('npm', ['install', '--no-audit', '--no-fund', serverTarball], { ...big, cwd: app });
  copyFileSync(path.join(app, 'node_modules', 'runaway-watchdog', 'examples', 'watchdog.yaml'), path.join(app, 'watchdog.yaml'));
  expect(readdirSync(path.join(app, 'lib'))).toEqual(['my-platform-stack.ts']);
  writeFileSync(path.join(app, 'lib', 'my-platform-stack.ts'), readmeBlock('lib/my-platform-stack.ts'));
  const synth = await run(process.execPath, [require.resolve('aws-cdk/bin/cdk'), 'synth', '--quiet'], { ...big, cwd: app });
  expect(synth.stdout + synth.stderr).toMatch(/placeholders are not filled in yet/);
  const template = JSON.parse(readFileSync(path.join(app, 'cdk.out', 'MyPlatformStack.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    Outputs: Record<string, unknown>;
  };
  const fns = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  // The sweeper, the webhook and the follow-up worker (the webhook's bundle), pre-built.
  expect(fns.map((f) => [f.Properties.Handler, f.Properties.Runtime])).toEqual([
    ['index.handler', 'nodejs24.x'],
    ['index.handler', 'nodejs24.x'],
    ['index.handler', 'nodejs24.x'],
  ]);
  expect(Object.keys(template.Outputs).map((k) => k.replace(/[0-9A-F]{8}$/, ''))).toEqual(['WatchdogWebhookUrl', 'WatchdogTableName', 'WatchdogAlarmTopicArn']);
  const assets = readdirSync(path.join(app, 'cdk.out')).filter((d) => d.startsWith('asset.'));
  expect(assets).toHaveLength(2);
  for (const a of assets) expect(readdirSync(path.join(app, 'cdk.out', a)).sort()).toEqual(['index.mjs', 'index.mjs.map', 'watchdog.config.json']);
  // The server package's own client entry loads from CommonJS too.
  const { stdout } = await run(process.execPath, ['-e', "console.log(typeof require('runaway-watchdog').WatchdogClient)"], { ...big, cwd: app });
  expect(stdout.trim()).toBe('function');
}, 600_000);

it('an `npm init` CommonJS project installs only the client (client_install_kb) and awaits the cancel with the README’s code', async () => {
  const dir = await clientProject('cjs-tracker', 'commonjs');
  const installed = readdirSync(path.join(dir, 'node_modules')).filter((f) => f !== '.package-lock.json');
  expect(installed).toEqual(['runaway-watchdog-client']);
  const kb = Math.round(sizeOf(path.join(dir, 'node_modules')) / 1024);
  console.log(JSON.stringify({ metric: 'client_install_kb', value: kb, packages: installed.length }));
  expect(kb).toBeLessThanOrEqual(1024);
  writeFileSync(path.join(dir, 'tracker.cjs'), readmeBlock('tracker.cjs'));
  const child = spawn(process.execPath, ['tracker.cjs'], {
    cwd: dir,
    env: { ...env, WATCHDOG_URL: served.url, WATCHDOG_API_KEY: API_KEY, RUN_ID: 'cjs-run-1' },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  sim.add({ id: 'cjs-run-1' });
  for (let i = 0; i < 100 && !(await rt.store.list({ limit: 10 })).items.some((e) => e.externalId === 'cjs-run-1'); i++)
    await new Promise((r) => setTimeout(r, 100));
  await cancelAsPerson('kodexa-acme/cjs-run-1');
  expect(await exited).toBe(0);
  expect(out.trim()).toBe('cancelled by slack:UONCALL: manual');
}, 120_000);

it('an ESM TypeScript project compiles the README’s tracker against the client’s types; it finishes, or learns who stopped it', async () => {
  const dir = await clientProject('esm-tracker', 'module');
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'out',
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['tracker.ts'],
    }),
  );
  writeFileSync(path.join(dir, 'tracker.ts'), readmeBlock('tracker.ts'));
  await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { ...big, cwd: dir });
  const tracker = (runId: string) =>
    run(process.execPath, ['out/tracker.js'], { ...big, cwd: dir, env: { ...env, WATCHDOG_URL: served.url, WATCHDOG_API_KEY: API_KEY, RUN_ID: runId } });
  sim.add({ id: 'esm-run-1' });
  const first = await tracker('esm-run-1');
  const done = await rt.watchdog.show('kodexa-acme/esm-run-1');
  expect(first.stdout.trim()).toBe(`finished ${done.execution.id}`);
  expect([done.execution.state, done.execution.heartbeats, done.execution.costUsd]).toEqual(['finished', 1, 3.2]);
  // A run the watchdog stopped before this tracker's heartbeat: it learns by whom and why.
  sim.add({ id: 'esm-run-2' });
  await rt.watchdog.track({ connection: 'kodexa-acme', externalId: 'esm-run-2' }, { id: 'test', via: 'test' });
  await cancelAsPerson('kodexa-acme/esm-run-2');
  const second = await tracker('esm-run-2');
  expect(second.stdout.trim()).toBe('stopped by slack:UONCALL: manual');
}, 120_000);
