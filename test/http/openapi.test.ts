/**
 * The tracking API's OpenAPI 3.1 description: valid by a real OpenAPI validator, the same as
 * the checked-in openapi.json and as GET /v1/openapi.json, listing exactly the routes the
 * handler serves, and describing the answers it really gives (checked with a JSON Schema
 * 2020-12 validator against live responses).
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openApiDocument, trackingRoutes } from '../../src/http/openapi.js';
import { API_KEY, type WebhookWorld, startWebhookWorld } from '../helpers/webhook-world.js';

let w: WebhookWorld;
beforeAll(async () => {
  w = await startWebhookWorld();
});
afterAll(async () => {
  await w?.close();
});

const doc = openApiDocument() as {
  paths: Record<string, Record<string, { responses: Record<string, { content?: { 'application/json': { schema: object } } }> }>>;
  components: { schemas: Record<string, object> };
};
const call = (method: string, path: string, body?: unknown) =>
  w.webhook.handle({
    method,
    path,
    query: new URLSearchParams(),
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? '' : JSON.stringify(body),
  });

it('is a valid OpenAPI 3.1 document, checked in as openapi.json and served at GET /v1/openapi.json', async () => {
  const result = await new Validator().validate(openApiDocument());
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(JSON.parse(readFileSync('openapi.json', 'utf8')), 'openapi.json is stale: run npm run openapi').toEqual(openApiDocument());
  const served = await fetch(`${w.served.url}/v1/openapi.json`);
  expect(served.status).toBe(200);
  expect(await served.json()).toEqual(openApiDocument());
});

it('lists exactly the routes the handler serves', async () => {
  const id = await w.tracked('openapi-routes');
  const documented = new Set(trackingRoutes().map((r) => `${r.method} ${r.path}`));
  const paths = [
    '/v1/executions',
    '/v1/executions/{id}',
    '/v1/executions/{id}/heartbeat',
    '/v1/executions/{id}/finish',
    '/v1/executions/{id}/cancel',
    '/v1/executions/{id}/extend',
    '/v1/executions/{id}/events',
  ];
  const served: string[] = [];
  for (const path of paths) {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const body = path === '/v1/executions' ? { connection: 'sg', externalId: 'openapi-routes' } : {};
      const res = await call(method, path.replace('{id}', id), method === 'GET' ? undefined : body);
      if (res.response.status !== 404 && res.response.status !== 405) served.push(`${method} ${path}`);
    }
  }
  expect(new Set(served)).toEqual(documented);
  expect(Object.keys(doc.paths).sort()).toEqual([...new Set(trackingRoutes().map((r) => r.path))].sort());
});

it('describes the answers the handler really gives', async () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const check = (path: string, method: string, status: number, body: string) => {
    let schema = doc.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json'].schema;
    expect(schema, `${method} ${path} ${status} is documented`).toBeDefined();
    const ref = (schema as { $ref?: string }).$ref;
    if (ref) schema = doc.components.schemas[ref.replace('#/components/schemas/', '')];
    expect(schema, `${ref} resolves`).toBeDefined();
    const valid = ajv.validate(schema!, JSON.parse(body));
    expect(valid ? [] : ajv.errors, `${method} ${path} ${status}`).toEqual([]);
  };
  const tracked = await call('POST', '/v1/executions', {
    connection: 'sg',
    externalId: 'openapi-shapes',
    labels: { team: 'ml' },
    limits: { maxRuntime: '30m' },
  });
  check('/v1/executions', 'post', tracked.response.status, tracked.response.body);
  const id = (JSON.parse(tracked.response.body) as { execution: { id: string } }).execution.id;
  const again = await call('POST', '/v1/executions', { connection: 'sg', externalId: 'openapi-shapes' });
  check('/v1/executions', 'post', again.response.status, again.response.body);
  const hb = await call('POST', `/v1/executions/${id}/heartbeat`, { progress: { done: 2, total: 5 }, costUsd: 0.5, message: 'epoch 2' });
  check('/v1/executions/{id}/heartbeat', 'post', hb.response.status, hb.response.body);
  const got = await call('GET', `/v1/executions/${id}`);
  check('/v1/executions/{id}', 'get', got.response.status, got.response.body);
  const fin = await call('POST', `/v1/executions/${id}/finish`, { status: 'succeeded' });
  check('/v1/executions/{id}/finish', 'post', fin.response.status, fin.response.body);
  const bad = await call('POST', '/v1/executions', { connection: 'sg' });
  check('/v1/executions', 'post', bad.response.status, bad.response.body);
  const missing = await call('GET', '/v1/executions/wd_zzzzzzzzzzzz');
  check('/v1/executions/{id}', 'get', missing.response.status, missing.response.body);
  const late = await call('POST', `/v1/executions/${id}/heartbeat`, {});
  check('/v1/executions/{id}/heartbeat', 'post', late.response.status, late.response.body);
  expect([tracked, again, hb, got, fin, bad, missing, late].map((r) => r.response.status)).toEqual([201, 200, 200, 200, 200, 400, 404, 409]);
  expect([bad, missing, late].map((r) => (JSON.parse(r.response.body) as { code: string }).code)).toEqual(['invalid_request', 'not_found', 'execution_ended']);
});
