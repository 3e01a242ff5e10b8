/**
 * The webhook Lambda behind a Function URL (or API Gateway HTTP API, payload v2), and the
 * consumer of its own follow-up queue. Thin: map the event to an HttpRequest, run the shared
 * handler, map the response back. Nothing runs after a handler returns, so the slow half of
 * a chat action (carry out the cancel, post the outcome) goes to the queue and comes back as
 * an SQS event: the person's answer always leaves first. Every response counts in
 * WebhookServerErrors (1 for a 5xx, else 0), which the construct alarms on.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { FollowUp, SqsFollowUps } from '../src/http/followup.js';
import type { HttpRequest } from '../src/http/types.js';
import { Webhook } from '../src/http/webhook.js';
import { bootRuntime, powertoolsLog } from '../src/lambda/boot.js';
import { ENV, METRICS_NAMESPACE, WEBHOOK_SERVICE, WebhookMetric } from '../src/metrics.js';

export interface SqsEvent {
  Records: Array<{ messageId: string; body: string; eventSource?: string; attributes?: { ApproximateReceiveCount?: string } }>;
}

/** A Function URL or API Gateway HTTP API (payload 2.0) event, or an API Gateway REST (proxy) event. */
export interface FunctionUrlEvent {
  rawPath?: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string }; stage?: string; path?: string };
  /** REST API (payload 1.0). */
  httpMethod?: string;
  path?: string;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
}

/**
 * The event as an HttpRequest. Function URL: the path as sent. HTTP API with a named stage:
 * `rawPath` starts with `/<stage>`, removed for routing and kept for the signature (the
 * caller signed what it addressed). REST API: `path` is the resource path (no stage) and
 * `requestContext.path` what the caller addressed.
 */
export function toHttpRequest(event: FunctionUrlEvent): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(event.multiValueHeaders ?? {})) if (Array.isArray(v)) headers[k.toLowerCase()] = v.join(',');
  for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = event.body === undefined || event.body === null ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (event.httpMethod !== undefined) {
    const query = new URLSearchParams();
    const multi = event.multiValueQueryStringParameters;
    if (multi) for (const [k, vs] of Object.entries(multi)) for (const v of vs ?? []) query.append(k, v);
    else for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) query.append(k, v);
    const path = event.path ?? '/';
    const addressed = event.requestContext?.path;
    return { method: event.httpMethod, path, ...(addressed && addressed !== path ? { signedPath: addressed } : {}), query, headers, body };
  }
  const raw = event.rawPath ?? '/';
  const stage = event.requestContext?.stage;
  const prefix = stage && stage !== '$default' ? `/${stage}` : '';
  const staged = prefix !== '' && (raw === prefix || raw.startsWith(`${prefix}/`));
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    path: staged ? raw.slice(prefix.length) || '/' : raw,
    ...(staged ? { signedPath: raw } : {}),
    query: new URLSearchParams(event.rawQueryString ?? ''),
    headers,
    body,
  };
}

const logger = new Logger({ serviceName: 'runaway-watchdog-webhook' });
const metrics = new Metrics({ namespace: process.env[ENV.metricsNamespace] ?? METRICS_NAMESPACE, serviceName: WEBHOOK_SERVICE });
let webhook: Webhook | undefined;

type Answer = { statusCode: number; headers: Record<string, string>; body: string };

const isSqs = (e: unknown): e is SqsEvent => Array.isArray((e as SqsEvent)?.Records);

/**
 * Follow-ups, one per record; a failed one is reported alone, so the queue retries just it.
 * A message that is not a follow-up (not JSON, or not the schema) fails like any other and
 * reaches the dead-letter queue: nothing is dropped silently. A failure on the last delivery
 * is counted (FollowUpsGivenUp, alarmed): a redriven message is not counted by SQS itself.
 */
async function followUps(w: Webhook, event: SqsEvent): Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }> {
  const failures: Array<{ itemIdentifier: string }> = [];
  const lastReceive = Number(process.env[ENV.followUpReceives] ?? '5');
  let givenUp = 0;
  for (const r of event.Records) {
    try {
      let raw: unknown;
      try {
        raw = JSON.parse(r.body);
      } catch {
        throw new Error('not JSON');
      }
      const job = FollowUp.safeParse(raw);
      if (!job.success) throw new Error('not a follow-up (schema)');
      await w.followUp(job.data);
    } catch (err) {
      const receives = Number(r.attributes?.ApproximateReceiveCount ?? '1');
      const last = receives >= lastReceive;
      if (last) givenUp++;
      logger[last ? 'error' : 'warn'](last ? 'follow-up failed on its last delivery: dead-lettered' : 'follow-up failed; the queue retries it', {
        messageId: r.messageId,
        receives,
        error: (err as Error).message,
      });
      failures.push({ itemIdentifier: r.messageId });
    }
  }
  metrics.addMetric(WebhookMetric.FollowUpsGivenUp, MetricUnit.Count, givenUp);
  metrics.publishStoredMetrics();
  return { batchItemFailures: failures };
}

function toHttpRequestSummary(event: FunctionUrlEvent, status: number, ms: number): Record<string, string> {
  return {
    route: (event.rawPath ?? event.path ?? '/').slice(0, 80),
    method: (event.requestContext?.http?.method ?? event.httpMethod ?? '?').slice(0, 10),
    status: String(status),
    ms: String(ms),
  };
}

export async function handler(event: SqsEvent): Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>;
export async function handler(event: FunctionUrlEvent): Promise<Answer>;
export async function handler(event: FunctionUrlEvent | SqsEvent): Promise<Answer | { batchItemFailures: Array<{ itemIdentifier: string }> }> {
  const started = Date.now();
  if (!webhook) {
    const log = powertoolsLog(logger);
    const runtime = bootRuntime(log);
    const queueUrl = process.env[ENV.followUpQueue];
    // Nothing runs after a Lambda answers: without the queue, a chat follow-up would be posted
    // before the answer (or never). Refused at start, loudly, instead.
    if (!queueUrl) throw new Error(`${ENV.followUpQueue} is not set: the webhook needs its follow-up queue (the construct sets it)`);
    webhook = new Webhook({ runtime, secrets: runtime.secrets, log, followUps: new SqsFollowUps(queueUrl) });
  }
  if (isSqs(event)) return followUps(webhook, event);
  const w = webhook;
  const { response, background } = await w.handle(toHttpRequest(event));
  // One log line per request: the EMF document, with what the request was (no secret, no body).
  const req = toHttpRequestSummary(event, response.status, Date.now() - started);
  for (const [k, v] of Object.entries(req)) metrics.addMetadata(k, v);
  metrics.addMetric(WebhookMetric.ServerErrors, MetricUnit.Count, response.status >= 500 ? 1 : 0);
  metrics.publishStoredMetrics();
  // What is left in process (a cancel with no one to report to) gets the rest of the ack
  // budget; past it the execution is cancel_requested or claimed, and the sweep finishes it.
  if (background) await Promise.race([background, new Promise((r) => setTimeout(r, Math.max(0, w.ackBudgetMs - (Date.now() - started))))]);
  return { statusCode: response.status, headers: response.headers, body: response.body };
}
