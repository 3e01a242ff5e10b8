/**
 * The webhook Lambda behind a Function URL (or API Gateway HTTP API, payload v2).
 * Thin: map the event to an HttpRequest, run the shared handler, give follow-up work the
 * rest of the ack budget, map the response back. Every response counts in
 * WebhookServerErrors (1 for a 5xx, else 0), which the construct alarms on.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { Webhook } from '../src/http/webhook.js';
import { bootRuntime, powertoolsLog } from '../src/lambda/boot.js';
import { ENV, METRICS_NAMESPACE, WEBHOOK_SERVICE, WebhookMetric } from '../src/metrics.js';

export interface FunctionUrlEvent {
  rawPath?: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string } };
}

const logger = new Logger({ serviceName: 'runaway-watchdog-webhook' });
const metrics = new Metrics({ namespace: process.env[ENV.metricsNamespace] ?? METRICS_NAMESPACE, serviceName: WEBHOOK_SERVICE });
let webhook: Webhook | undefined;

export const handler = async (event: FunctionUrlEvent): Promise<{ statusCode: number; headers: Record<string, string>; body: string }> => {
  const started = Date.now();
  if (!webhook) {
    const log = powertoolsLog(logger);
    const runtime = bootRuntime(log);
    webhook = new Webhook({ runtime, secrets: runtime.secrets, log });
  }
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const { response, background } = await webhook.handle({
    method: event.requestContext?.http?.method ?? 'GET', path: event.rawPath ?? '/', query: new URLSearchParams(event.rawQueryString ?? ''), headers, body,
  });
  metrics.addMetric(WebhookMetric.ServerErrors, MetricUnit.Count, response.status >= 500 ? 1 : 0);
  metrics.publishStoredMetrics();
  // Chat tools need an answer within 3 s; follow-ups that take longer are finished by the sweep.
  if (background) await Promise.race([background, new Promise((r) => setTimeout(r, Math.max(0, 2_500 - (Date.now() - started))))]);
  return { statusCode: response.status, headers: response.headers, body: response.body };
};
