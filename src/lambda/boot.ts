/**
 * Cold start for both Lambda handlers: the config travels as a JSON file inside the
 * bundle (no 4 KB environment limit), the table name in the environment. Built once per
 * container and reused by warm invocations.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileConfig } from '../config/load.js';
import { ENV } from '../metrics.js';
import type { Log } from '../log.js';
import { type Runtime, buildRuntime } from '../runtime.js';
import { dynamoClient } from '../store/client.js';

/** Powertools Logger behind the core's Log interface. */
export const powertoolsLog = (l: Logger): Log => ({
  info: (m, f = {}) => l.info(m, f),
  warn: (m, f = {}) => l.warn(m, f),
  error: (m, f = {}) => l.error(m, f),
});

export interface LambdaContext {
  getRemainingTimeInMillis(): number;
  awsRequestId?: string;
}

export function bootRuntime(log: Log, env: NodeJS.ProcessEnv = process.env): Runtime {
  const file = env[ENV.configFile] ?? new URL('./watchdog.config.json', import.meta.url).pathname;
  // JSON written by the CDK construct (validated at synth, validated again here); no YAML parser in the bundle.
  const config = compileConfig(JSON.parse(readFileSync(file, 'utf8')), path.dirname(file));
  const tableName = env[ENV.table] ?? config.settings.tableName;
  // In Lambda a call gets 3 s per attempt, 3 attempts: a hung DynamoDB costs a sweep ~10 s, not its timeout.
  const client = dynamoClient({ ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}), requestTimeoutMs: 3_000, maxAttempts: 3 });
  return buildRuntime(config, { client, tableName, log, holder: `lambda-${env.AWS_LAMBDA_LOG_STREAM_NAME ?? process.pid}` });
}
