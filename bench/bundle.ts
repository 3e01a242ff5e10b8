/**
 * Lambda bundles as `cdk synth` builds them (local esbuild, minified, ESM, AWS SDK left to
 * the runtime): size of each index.mjs, and module load time of each on Node in a fresh
 * process (median of 5), with the AWS SDK resolved from node_modules as the runtime would.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { WatchdogStack } from '../lib/watchdog-stack.js';
import type { Line } from './run.js';

export async function benchBundle(): Promise<Line[]> {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'wd-bundle-'));
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  new WatchdogStack(app, 'Bench', { configFile: 'examples/watchdog.yaml' });
  app.synth();
  const template = JSON.parse(readFileSync(path.join(outdir, 'Bench.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
  };
  const lines: Line[] = [];
  const scratch = path.resolve('.bench-out');
  mkdirSync(scratch, { recursive: true });
  try {
    for (const name of ['Sweeper', 'Webhook']) {
      const [, res] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes(name)) ?? [];
      const assetDir = path.join(outdir, res?.Metadata?.['aws:asset:path'] ?? '');
      const bundle = path.join(assetDir, 'index.mjs');
      const kb = Math.round((statSync(bundle).size / 1024) * 10) / 10;
      const key = name.toLowerCase();
      lines.push({ name: `bundle_kb_${key}`, value: kb, unit: 'KB', target: '<= 600', mapKb: Math.round(statSync(`${bundle}.map`).size / 1024) });
      // Load it from inside the repo so externals (@aws-sdk/*) resolve like the runtime's copy.
      const local = path.join(scratch, `${key}.mjs`);
      copyFileSync(bundle, local);
      copyFileSync(path.join(assetDir, 'watchdog.config.json'), path.join(scratch, 'watchdog.config.json'));
      const env = {
        ...process.env,
        WATCHDOG_CONFIG_FILE: path.join(scratch, 'watchdog.config.json'),
        AWS_REGION: 'us-east-1',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
      };
      // Each run loads the runtime's AWS SDK packages the bundle imports statically, then the
      // bundle: the sum is the bundle's load time (same modules, same order as its own
      // imports would load them), the split shows which part is ours.
      const runs = loadTimes(staticSdkImports(readFileSync(bundle, 'utf8')), local, env);
      const total = runs.map(([sdk, own]) => sdk + own);
      lines.push({
        name: `init_ms_${key}`,
        value: median(total),
        unit: 'ms',
        target: '<= 100',
        runs: total.map((t) => Math.round(t)),
        sdkMs: median(runs.map(([sdk]) => sdk)),
        ownMs: median(runs.map(([, own]) => own)),
      });
      // Machine speed cancels out of a ratio measured in the same processes.
      const ratio = Math.round((median(runs.map(([, own]) => own)) / median(runs.map(([sdk]) => sdk))) * 100) / 100;
      lines.push({ name: `init_own_vs_sdk_${key}`, value: ratio, unit: 'ratio', target: '<= 0.5' });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(outdir, { recursive: true, force: true });
  }
  return lines;
}

const RUNS = 7;
const median = (xs: number[]): number => Math.round([...xs].sort((a, b) => a - b)[xs.length >> 1]! * 10) / 10;

/** [sdk ms, bundle ms] per fresh Node process: the SDK packages first, then the bundle. */
function loadTimes(sdk: string[], bundle: string, env: NodeJS.ProcessEnv): Array<[number, number]> {
  const imports = sdk.map((m) => `await import(${JSON.stringify(m)});`).join(' ');
  const script = `const t0=performance.now(); ${imports} const t1=performance.now(); await import(${JSON.stringify(bundle)}); console.log(t1-t0, performance.now()-t1)`;
  const runs: Array<[number, number]> = [];
  // One discarded run first: it pays for a cold file cache, which a Lambda image does not.
  for (let i = -1; i < RUNS; i++) {
    // Run from the repo so externals resolve from node_modules like the runtime's copy.
    const [a, b] = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, cwd: process.cwd() }).toString().trim().split(' ').map(Number);
    if (i >= 0) runs.push([a!, b!]);
  }
  return runs;
}

/** The external packages a minified ESM bundle imports at load (dynamic imports excluded). */
function staticSdkImports(code: string): string[] {
  return [...new Set([...code.matchAll(/from\s*"(@aws-sdk\/[^"]+|@smithy\/[^"]+)"/g)].map((m) => m[1]!))];
}
