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
  const template = JSON.parse(readFileSync(path.join(outdir, 'Bench.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Metadata?: Record<string, string> }> };
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
      lines.push({ name: `bundle_kb_${key}`, value: kb, unit: 'KB', target: '<= 300', mapKb: Math.round(statSync(`${bundle}.map`).size / 1024) });
      // Load it from inside the repo so externals (@aws-sdk/*) resolve like the runtime's copy.
      const local = path.join(scratch, `${key}.mjs`);
      copyFileSync(bundle, local);
      copyFileSync(path.join(assetDir, 'watchdog.config.json'), path.join(scratch, 'watchdog.config.json'));
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const out = execFileSync(process.execPath, ['--input-type=module', '-e', `const t=performance.now(); await import(${JSON.stringify(local)}); console.log(performance.now()-t)`], {
          env: { ...process.env, WATCHDOG_CONFIG_FILE: path.join(scratch, 'watchdog.config.json'), AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1' },
        }).toString();
        times.push(Number(out.trim()));
      }
      times.sort((a, b) => a - b);
      lines.push({ name: `init_ms_${key}`, value: Math.round(times[2]! * 10) / 10, unit: 'ms', target: '<= 100', runs: times.map((t) => Math.round(t)) });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(outdir, { recursive: true, force: true });
  }
  return lines;
}
