/**
 * Contract tests against the seed API documents (test/fixtures/seeds, copied from ../shared/seeds): the simulators must not
 * drift from the real APIs, and the adapters must call them as documented.
 *  - Ionworks (002), superglue (003), Meibel (004) carry OpenAPI: each adapter's cancel
 *    request (method, path, auth) and each simulator response are validated with ajv.
 *  - Catalyzed (000) and Kodexa (001) are prose/examples: the route, auth header and the
 *    fields the seeds list are asserted.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createAdapter } from '../../src/providers/adapter.js';
import { BUILTIN } from '../../src/providers/registry.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';

// Copies of ../shared/seeds (the seed API documents), vendored so CI on a fresh clone has them.
const SEEDS = path.resolve('test/fixtures/seeds');
const seedText = (prefix: string) =>
  readFileSync(
    path.join(
      SEEDS,
      readdirSync(SEEDS).find((f) => f.startsWith(prefix))!,
    ),
    'utf8',
  );

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
  security?: Array<Record<string, unknown>>;
};

function openapi(prefix: string): Doc {
  const m = /````yaml[^\n]*\n([\s\S]*?)````/.exec(seedText(prefix));
  if (!m) throw new Error(`no OpenAPI block in seed ${prefix}`);
  return parse(m[1]!) as Doc;
}

/** OpenAPI 3.0 `nullable: true` → JSON Schema type unions, so one validator serves both versions. */
function nullableToUnion(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableToUnion);
  if (!node || typeof node !== 'object') return node;
  const o = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, nullableToUnion(v)])) as Record<string, unknown>;
  if (o.nullable === true) {
    delete o.nullable;
    if (typeof o.type === 'string') o.type = [o.type, 'null'];
    else if (o.$ref || o.allOf || o.oneOf || o.anyOf) return { anyOf: [o, { type: 'null' }] };
  }
  return o;
}

function validator(doc: Doc, status: string) {
  const [, ops] = Object.entries(doc.paths)[0]!;
  const [, op] = Object.entries(ops)[0]!;
  const schema = op.responses[status]?.content?.['application/json']?.schema;
  if (!schema) return undefined;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
  const addFormats = ((formats as unknown as { default?: unknown }).default ?? formats) as (a: Ajv2020) => void;
  addFormats(ajv);
  const root = nullableToUnion({ ...schema, components: doc.components ?? {} });
  return ajv.compile(root as object);
}

const sims: Simulator[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

describe.each([
  { platform: 'ionworks', seed: '002', authHeader: 'x-api-key' },
  { platform: 'superglue', seed: '003', authHeader: 'authorization' },
  { platform: 'meibel', seed: '004', authHeader: 'meibel-api-key' },
] as const)('$platform against its OpenAPI document (seed $seed)', ({ platform, seed, authHeader }) => {
  const doc = openapi(seed);
  const [template, ops] = Object.entries(doc.paths)[0]!;
  const [method] = Object.keys(ops);

  it('the adapter sends the documented method, path and auth', async () => {
    const sim = await startSimulator(platform);
    sims.push(sim);
    sim.add({ id: 'run/with.odd id' });
    const seen: Array<{ method: string; path: string; headers: Record<string, unknown> }> = [];
    sim.onRequest = (r) => seen.push(r);
    const adapter = createAdapter(BUILTIN[platform].spec, sim.url, { apiKey: async () => sim.apiKey, refresh: async () => sim.apiKey });
    expect((await adapter.cancel('run/with.odd id')).kind).toBe('cancelled');
    // Platforms whose cancel answer is ambiguous are read first (GET); the cancel is the last call.
    const cancel = seen.at(-1)!;
    expect(seen.slice(0, -1).every((r) => r.method === 'GET')).toBe(true);
    expect(cancel.method).toBe(method!.toUpperCase());
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    expect(cancel.path).toMatch(pattern);
    expect(cancel.path).toContain('run%2Fwith%2Eodd%20id'); // one path segment, percent-encoded
    const scheme = Object.values(doc.components?.securitySchemes ?? {})[0];
    if (scheme?.type === 'apiKey') expect(scheme.name?.toLowerCase()).toBe(authHeader);
    if (scheme?.type === 'http') expect(scheme.scheme?.toLowerCase()).toBe('bearer');
    const sent = cancel.headers[authHeader] as string;
    expect(sent === sim.apiKey || sent === `Bearer ${sim.apiKey}`).toBe(true);
  });

  it('simulator answers conform: 200 on a running and on a finished run, and the documented errors', async () => {
    const sim = await startSimulator(platform);
    sims.push(sim);
    const ok = validator(doc, '200')!;
    const call = async (id: string) => {
      const res = await fetch(`${sim.url}${template.replace(/\{[^}]+\}/, encodeURIComponent(id))}`, {
        method: method!.toUpperCase(),
        headers: authHeader === 'authorization' ? { authorization: `Bearer ${sim.apiKey}` } : { [authHeader]: sim.apiKey },
      });
      return { status: res.status, body: await res.json() };
    };
    sim.add({ id: 'running', total: 10, done: 3 });
    const running = await call('running');
    expect(running.status).toBe(200);
    expect(ok(running.body), JSON.stringify(ok.errors)).toBe(true);

    sim.add({ id: 'finished', state: 'succeeded', endedAt: Date.now() });
    const finished = await call('finished');
    const check = validator(doc, String(finished.status));
    expect(check, `status ${finished.status} must be documented`).toBeDefined();
    expect(check!(finished.body), JSON.stringify(check!.errors)).toBe(true);

    const missing = await call('no-such-run');
    const v404 = validator(doc, String(missing.status));
    if (v404) expect(v404(missing.body), JSON.stringify(v404.errors)).toBe(true);
  });
});

describe('Catalyzed and Kodexa: what their seeds state', () => {
  it('Catalyzed: POST /pipeline-executions/{executionId}/cancel, status vocabulary from the seed', async () => {
    const text = seedText('000');
    expect(text).toContain('POST /pipeline-executions/{executionId}/cancel');
    const vocab = /Current execution status \(([^)]+)\)/
      .exec(text)![1]!
      .split(',')
      .map((s) => s.trim());
    const sim = await startSimulator('catalyzed');
    sims.push(sim);
    const seen: string[] = [];
    sim.onRequest = (r) => seen.push(`${r.method} ${r.path} ${String(r.headers.authorization).startsWith('Bearer ')}`);
    const adapter = createAdapter(BUILTIN.catalyzed.spec, sim.url, { apiKey: async () => sim.apiKey, refresh: async () => sim.apiKey });
    for (const state of ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const) {
      sim.add({ id: `c-${state}`, state });
      const st = await adapter.status(`c-${state}`);
      expect(st.kind).toBe('status');
      if (st.kind === 'status') expect(vocab).toContain(st.status.raw);
    }
    await adapter.cancel('c-running');
    expect(seen).toContain('POST /pipeline-executions/c-running/cancel true');
  });

  it('Kodexa: PUT /api/executions/{id}/cancel with x-api-key; the example response fields are present', async () => {
    const text = seedText('001');
    expect(text).toMatch(/--request PUT[\s\S]*\/api\/executions\/\{id\}\/cancel[\s\S]*x-api-key/);
    const sim = await startSimulator('kodexa');
    sims.push(sim);
    sim.add({ id: 'k1', total: 4, done: 1 });
    const res = await fetch(`${sim.url}/api/executions/k1/cancel`, { method: 'PUT', headers: { 'x-api-key': sim.apiKey } });
    const body = (await res.json()) as Record<string, unknown>;
    for (const field of ['id', 'status', 'startDate', 'endDate', 'changeSequence']) {
      expect(text).toContain(`"${field}"`);
      expect(body).toHaveProperty(field);
    }
  });
});
