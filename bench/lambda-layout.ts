/**
 * A function laid out as Lambda runs it, for the benchmarks that drive the deployed artifact:
 * the config written, the stack synthesized as `cdk synth` does, the function's asset folder
 * copied out of the repository with the AWS SDK beside it (the runtime's node_modules).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { WatchdogStack } from '../lib/watchdog-stack.js';

export interface LaidOut {
  /** The function's folder: index.mjs and watchdog.config.json. */
  fnDir: string;
  /** Where to run it from (its parent, with node_modules). */
  cwd: string;
  memoryMb: number;
}

export function layOutFunction(work: string, raw: unknown, fn: 'sweeper' | 'webhook'): LaidOut {
  const configFile = path.join(work, 'watchdog.json');
  writeFileSync(configFile, JSON.stringify(raw));
  const outdir = path.join(work, 'cdk.out');
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  const stack = new WatchdogStack(app, 'Bench', { configFile });
  app.synth();
  const memoryMb = (stack.watchdog[fn].node.defaultChild as { memorySize?: number }).memorySize ?? 0;
  const template = JSON.parse(readFileSync(path.join(outdir, 'Bench.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, string> }>;
  };
  const logicalName = fn === 'sweeper' ? 'Sweeper' : 'Webhook';
  const [, res] = Object.entries(template.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.includes(logicalName)) ?? [];
  const cwd = path.join(work, 'runtime');
  const fnDir = path.join(cwd, fn);
  mkdirSync(path.join(cwd, 'node_modules'), { recursive: true });
  for (const scope of ['@aws-sdk', '@smithy']) symlinkSync(path.resolve('node_modules', scope), path.join(cwd, 'node_modules', scope));
  cpSync(path.join(outdir, res!.Metadata!['aws:asset:path']!), fnDir, { recursive: true });
  return { fnDir, cwd, memoryMb };
}

/**
 * Run `script` (an ES module body) in a fresh Node process beside the laid-out function, with
 * the environment Lambda gives it: its config file, its table, the endpoints of the local
 * DynamoDB and Secrets Manager. `BENCH_NODE` picks the runtime's Node (24). Asynchronous: the
 * engines answer from this process.
 */
export function runBeside(
  f: LaidOut,
  script: string,
  o: { table: string; dynamodb: string; secretsManager: string; env?: Record<string, string> },
): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.env.BENCH_NODE ?? process.execPath, ['--input-type=module', '-e', script], {
    cwd: f.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_ENDPOINT_URL_DYNAMODB: o.dynamodb,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: o.secretsManager,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
      WATCHDOG_TABLE: o.table,
      WATCHDOG_CONFIG_FILE: path.join(f.fnDir, 'watchdog.config.json'),
      POWERTOOLS_LOG_LEVEL: 'WARN',
      ...o.env,
    },
    maxBuffer: 256 * 1024 * 1024,
  });
}
