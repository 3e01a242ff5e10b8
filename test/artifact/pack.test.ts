/**
 * The npm package as a team installs it: `npm pack`, then a scratch project outside the
 * repository installs the tarball (with aws-cdk-lib, constructs and cdk-nag of its own) and
 *  - a CDK app adds `RunawayWatchdog` from `runaway-watchdog/cdk` (config as an object) and
 *    synthesizes cdk-nag clean, with the pre-built handlers as assets;
 *  - a TypeScript tracker compiled by tsc against the package's types, run by plain `node`,
 *    tracks, heartbeats and finishes through the tracking API of a local webhook (the
 *    handler `npm start` serves).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import { serveWebhook } from '../../src/http/server.js';
import { Webhook } from '../../src/http/webhook.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { buildRuntime } from '../../src/runtime.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const version = (pkg: string) => (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

let scratch: string;
let engine: Engine;

beforeAll(async () => {
  const packDir = mkdtempSync(path.join(os.tmpdir(), 'wd-pack-'));
  // prepack builds dist/ (tsc + the Lambda bundles).
  await run('npm', ['pack', '--pack-destination', packDir], { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 });
  const tarball = path.join(
    packDir,
    readdirSync(packDir).find((f) => f.endsWith('.tgz'))!,
  );
  scratch = mkdtempSync(path.join(os.tmpdir(), 'wd-team-'));
  writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'team-app', private: true, type: 'module' }));
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
      `aws-cdk-lib@${version('aws-cdk-lib')}`,
      `constructs@${version('constructs')}`,
      `cdk-nag@${version('cdk-nag')}`,
    ],
    { cwd: scratch, env, maxBuffer: 64 * 1024 * 1024 },
  );
  engine = await startDynalite();
}, 600_000);
afterAll(async () => {
  await engine?.close();
});

it("the package holds what a team needs and nothing of the repository's tooling", () => {
  const installed = path.join(scratch, 'node_modules', 'runaway-watchdog');
  const files = readdirSync(installed);
  expect(files.sort()).toEqual(['README.md', 'bin', 'dist', 'examples', 'openapi.json', 'package.json']);
  expect(readdirSync(path.join(installed, 'dist', 'assets')).sort()).toEqual(['sweeper', 'webhook']);
  // The client entry point pulls in no server code: signing only.
  const client = readFileSync(path.join(installed, 'dist', 'src', 'client.js'), 'utf8');
  expect([...client.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1])).toEqual(['./security/signing.js']);
});

it("a team's CDK app adds RunawayWatchdog from npm and synthesizes cdk-nag clean, with the pre-built handlers", async () => {
  writeFileSync(
    path.join(scratch, 'app.mjs'),
    `
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RunawayWatchdog, SweeperMetric, INDEXES } from 'runaway-watchdog/cdk';
const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'TeamStack');
const wd = new RunawayWatchdog(stack, 'Watchdog', {
  config: {
    connections: { kx: { provider: 'kodexa', baseUrl: 'https://kodexa.example.com', secret: 'team/kodexa' } },
    policies: [{ name: 'default', maxRuntime: '2h' }],
  },
  memorySize: 256,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
console.log(JSON.stringify({ metric: SweeperMetric.Cancelled, indexes: INDEXES.map((i) => i.name), url: typeof wd.webhookUrl.url }));
`,
  );
  const { stdout } = await run('node', ['app.mjs'], { cwd: scratch, env });
  expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ metric: 'Cancelled', indexes: ['due', 'byState'], url: 'string' });
  const template = JSON.parse(readFileSync(path.join(scratch, 'cdk.out', 'TeamStack.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  const fns = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  // The sweeper, the webhook and the follow-up worker (the webhook's bundle).
  expect(fns.map((f) => [f.Properties.Handler, f.Properties.Runtime, f.Properties.MemorySize])).toEqual([
    ['index.handler', 'nodejs24.x', 256],
    ['index.handler', 'nodejs24.x', 256],
    ['index.handler', 'nodejs24.x', 256],
  ]);
  // Each asset is the bundle and the validated config, nothing else.
  const assets = readdirSync(path.join(scratch, 'cdk.out')).filter((d) => d.startsWith('asset.'));
  for (const a of assets) expect(readdirSync(path.join(scratch, 'cdk.out', a)).sort()).toEqual(['index.mjs', 'index.mjs.map', 'watchdog.config.json']);
  expect(assets).toHaveLength(2);
}, 180_000);

it("a tracker compiled against the package's types tracks, heartbeats and finishes with plain node", async () => {
  const client = dynamoClient({ endpoint: engine.endpoint });
  await ensureTable(client, 'pack-table');
  const secrets = { get: async () => JSON.stringify({ apiKey: 'team-key' }) };
  const config = compileConfig({
    connections: { sg: { provider: 'superglue', baseUrl: 'http://127.0.0.1:9', secret: 'sg' } },
    webhook: { api: { secret: 'api' } },
    policies: [{ name: 'default', maxRuntime: '2h' }],
  });
  const rt = buildRuntime(config, { client, tableName: 'pack-table', secrets });
  const served = await serveWebhook(new Webhook({ runtime: rt, secrets }), { port: 0, maxBodyBytes: 65536 });
  try {
    writeFileSync(
      path.join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', types: [] },
        files: ['tracker.ts'],
      }),
    );
    writeFileSync(
      path.join(scratch, 'tracker.ts'),
      `
import { WatchdogApiError, WatchdogClient } from 'runaway-watchdog';
declare const process: { argv: string[] }; // no @types/node in this project
const [baseUrl, apiKey] = process.argv.slice(2) as [string, string];
const wd = new WatchdogClient({ baseUrl, apiKey });
const { created, execution } = await wd.track({ connection: 'sg', externalId: 'nightly-42', labels: { team: 'ml' } });
await wd.heartbeat(execution.id, { progress: { done: 3, total: 10 }, costUsd: 1.25 });
const done = await wd.finish(execution.id, 'succeeded');
const missing = await wd.get('wd_zzzzzzzzzzzz').catch((e: unknown) => e);
console.log(JSON.stringify({ created, state: done.execution.state, heartbeats: done.execution.heartbeats, cost: done.execution.costUsd, missing: missing instanceof WatchdogApiError ? missing.status : 'no error' }));
`,
    );
    await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: scratch, env });
    const { stdout } = await run('node', ['out/tracker.js', served.url, 'team-key'], { cwd: scratch, env });
    expect(JSON.parse(stdout)).toEqual({ created: true, state: 'finished', heartbeats: 1, cost: 1.25, missing: 404 });
    expect((await rt.store.get((await rt.watchdog.show('sg/nightly-42')).execution.id))?.state).toBe('finished');
  } finally {
    await served.close();
    client.destroy();
  }
}, 120_000);
