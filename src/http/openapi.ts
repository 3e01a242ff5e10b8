/**
 * The tracking API described as OpenAPI 3.1, generated from the zod schemas that validate
 * its requests (zod 4's JSON Schema output), so the description cannot drift from the code.
 * Served at GET /v1/openapi.json; checked in as openapi.json (`npm run openapi` rewrites it,
 * a test fails when it is stale). Trackers in other languages generate clients from it.
 */
import * as z from 'zod';
import { Duration } from '../config/schema.js';
import { AuditEvent, Execution, HeartbeatInput, INTERNAL_FIELDS } from '../core/model.js';
import { FinishRequest, TrackRequest } from '../app/service.js';
import { ERROR_CODES } from '../api/wire.js';

/** What the API returns about an execution: no internals (outbox, leases, threads). */
export const PublicExecution = Execution.omit(Object.fromEntries(INTERNAL_FIELDS.map((k) => [k, true])) as Record<(typeof INTERNAL_FIELDS)[number], true>);
/** Every refusal: components.schemas.Error, referenced by each error response. */
const ErrorBody = z.object({
  error: z.string().meta({ description: 'For people; may change' }),
  code: z.enum(ERROR_CODES).meta({ description: 'Stable and machine-readable: see the API description' }),
  execution: PublicExecution.optional().meta({ description: 'With execution_ended: the execution as it ended (requestedBy: who; stopReasons: why)' }),
});

export interface Route {
  method: 'GET' | 'POST';
  /** OpenAPI path template. */
  path: string;
  operationId: string;
  summary: string;
  request?: z.ZodType;
  responses: Record<string, { description: string; schema?: z.ZodType }>;
}

const errors = () => ({
  400: { description: 'Invalid request, code invalid_request (the error says which field and why): nothing changed', schema: ErrorBody },
  401: { description: 'Missing or wrong signature or API key', schema: ErrorBody },
  503: {
    description:
      "The watchdog's own dependency (its secrets, its store) failed or was throttled: nothing was judged or changed. Retry after the Retry-After header's seconds (WatchdogClient does).",
    schema: ErrorBody,
  },
});
const notFound = () => ({ 404: { description: "No tracked execution with this id (or outside the key's scope)", schema: ErrorBody } });
const withExecution = () => z.object({ execution: PublicExecution });

/**
 * Every route of the tracking API; the handler serves exactly these (a test checks both
 * ways). Built on first use: the webhook's cold start does not pay for the description.
 */
export const trackingRoutes = (): readonly Route[] => [
  {
    method: 'POST',
    path: '/v1/executions',
    operationId: 'track',
    summary: 'Track an execution (idempotent on connection + externalId)',
    request: TrackRequest,
    responses: {
      201: { description: 'Tracked', schema: z.object({ created: z.literal(true), execution: PublicExecution }) },
      200: { description: 'Already tracked: the existing execution', schema: z.object({ created: z.literal(false), execution: PublicExecution }) },
      ...errors(),
      409: {
        description:
          "Code already_handled: this signed request was already accepted (replay); tracked_elsewhere: this connection and externalId are tracked outside the key's scope (nothing about that run is returned)",
        schema: ErrorBody,
      },
    },
  },
  {
    method: 'GET',
    path: '/v1/executions/{id}',
    operationId: 'get',
    summary: 'An execution and its audit trail',
    responses: {
      200: { description: 'The execution and its events', schema: z.object({ execution: PublicExecution, events: z.array(AuditEvent) }) },
      ...errors(),
      ...notFound(),
    },
  },
  {
    method: 'POST',
    path: '/v1/executions/{id}/heartbeat',
    operationId: 'heartbeat',
    summary: 'Liveness, progress and cost (counted on the execution, not audited)',
    request: HeartbeatInput,
    responses: {
      200: { description: 'The execution after the heartbeat', schema: withExecution() },
      ...errors(),
      ...notFound(),
      409: {
        description:
          'Code execution_ended: the execution is over — stop the run. `execution` says how it ended: `state` (cancelled, finished, …), `requestedBy` (who asked for the cancel: a person, or policy:<name>) and `stopReasons` (which limit, or manual). Code cancel_in_progress: a cancel is under way.',
        schema: ErrorBody,
      },
    },
  },
  {
    method: 'POST',
    path: '/v1/executions/{id}/finish',
    operationId: 'finish',
    summary: 'The execution ended on its own',
    request: FinishRequest,
    responses: {
      200: { description: 'The finished execution', schema: withExecution() },
      ...errors(),
      ...notFound(),
      409: {
        description:
          'Code already_handled: this signed request was already accepted (replay); execution_ended: it had already ended (cancelled, or finished before)',
        schema: ErrorBody,
      },
    },
  },
];

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
    override: (ctx) => {
      // A custom check has no JSON Schema of its own: say what it accepts.
      if (ctx.zodSchema === Duration)
        Object.assign(ctx.jsonSchema, { type: 'string', description: 'A duration: "90s", "45m", "2h", "1d", "1h30m"', examples: ['45m'] });
    },
  }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

let cached: Record<string, unknown> | undefined;

export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of trackingRoutes()) {
    const id = r.path.includes('{id}')
      ? [
          {
            name: 'id',
            in: 'path',
            required: true,
            description: 'The execution id (wd_…) or <connection>/<externalId>, percent-encoded',
            schema: { type: 'string' },
          },
        ]
      : [];
    paths[r.path] ??= {};
    paths[r.path]![r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(id.length ? { parameters: id } : {}),
      ...(r.request
        ? { requestBody: { required: r.operationId === 'track', content: { 'application/json': { schema: jsonSchema(r.request, 'input') } } } }
        : {}),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([code, res]) => [
          code,
          {
            description: res.description,
            ...(res.schema
              ? {
                  content: {
                    'application/json': { schema: res.schema === ErrorBody ? { $ref: '#/components/schemas/Error' } : jsonSchema(res.schema, 'output') },
                  },
                }
              : {}),
          },
        ]),
      ),
    };
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Runaway Watchdog tracking API',
      version: '1.0.0',
      description:
        'Track executions on external platforms, send heartbeats, report the end. Every refusal is {error, code}: code is stable (invalid_request 400, unauthorized 401, not_found 404, method_not_allowed 405, already_handled / execution_ended / cancel_in_progress / tracked_elsewhere / state_conflict 409, body_too_large 413, internal 500, unavailable 503). A heartbeat answered 409 execution_ended means the run was stopped: stop it. Authenticate with a bearer API key (webhook.api) or sign each request: X-Watchdog-Timestamp and X-Watchdog-Signature = "v2=" + hex HMAC-SHA256(secret, "v2\\n<timestamp>\\n<METHOD>\\n<path?query>\\n<body>") (webhook.hooks).',
    },
    servers: [{ url: '/', description: 'The webhook URL (Lambda Function URL, or `watchdog serve` locally)' }],
    security: [{ bearer: [] }, { signature: [], timestamp: [] }],
    components: {
      schemas: { Error: jsonSchema(ErrorBody, 'output') },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key from webhook.api' },
        signature: { type: 'apiKey', in: 'header', name: 'X-Watchdog-Signature', description: 'v2 HMAC over method, path and body' },
        timestamp: { type: 'apiKey', in: 'header', name: 'X-Watchdog-Timestamp', description: 'Unix seconds; within 5 minutes' },
      },
    },
    paths,
  };
  return cached;
}
