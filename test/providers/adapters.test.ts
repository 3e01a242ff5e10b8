import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdapter, type Credentials } from '../../src/providers/adapter.js';
import { genericHttpSpec } from '../../src/providers/generic-http.js';
import { encodeId, retryAfterMs } from '../../src/providers/http.js';
import { BUILTIN } from '../../src/providers/registry.js';
import type { ProviderAdapter } from '../../src/providers/types.js';
import { type Simulator, startSimulator } from '../../src/simulators/server.js';
import { HttpProvider } from '../../src/config/schema.js';

const FAST = { attempts: 2, baseBackoffMs: 5, maxBackoffMs: 50, timeoutMs: 300 };
const creds = (key: string): Credentials => ({ apiKey: async () => key, refresh: async () => key });

describe.each(Object.keys(BUILTIN) as Array<keyof typeof BUILTIN>)('%s adapter against its simulator', (platform) => {
  let sim: Simulator;
  let adapter: ProviderAdapter;
  beforeAll(async () => {
    sim = await startSimulator(platform, { kodexaCancelMs: 100 });
    adapter = createAdapter(BUILTIN[platform].spec, sim.url, creds(sim.apiKey), FAST);
  });
  afterEach(() => {
    sim.faults = {};
  });
  afterAll(async () => {
    await sim.close();
  });

  it('reads status with progress', async () => {
    sim.add({ id: 'st-1', total: 10, done: 4 });
    const s = await adapter.status('st-1');
    expect(s).toMatchObject({ kind: 'status', status: { phase: 'running' } });
    if (platform !== 'superglue') expect(s.kind === 'status' && s.status.progress?.fraction).toBeCloseTo(0.4);
  });

  it('cancels a running execution (Kodexa: pending, then cancelled)', async () => {
    sim.add({ id: 'run-1' });
    const out = await adapter.cancel('run-1');
    if (platform === 'kodexa') {
      expect(out).toMatchObject({ kind: 'cancel_pending', status: { raw: 'CANCELLING' } });
      await new Promise((r) => setTimeout(r, 150));
      expect(await adapter.status('run-1')).toMatchObject({ kind: 'status', status: { phase: 'finished', result: 'cancelled' } });
    } else {
      expect(out).toMatchObject({ kind: 'cancelled' });
    }
    expect(sim.cancelCalls.get('run-1')).toBe(1);
  });

  it.each(['succeeded', 'failed', 'cancelled'] as const)(
    'a run that already %s (by someone else) is already_finished, never cancelled by us',
    async (state) => {
      sim.add({ id: `done-${state}`, state, endedAt: Date.now() });
      const out = await adapter.cancel(`done-${state}`);
      expect(out).toMatchObject({ kind: 'already_finished', status: { phase: 'finished', result: state } });
    },
  );

  it('unknown execution → not_found; wrong key → unauthorized', async () => {
    expect(await adapter.cancel('nope')).toMatchObject({ kind: 'not_found' });
    const wrong = createAdapter(BUILTIN[platform].spec, sim.url, creds('wrong-key'), FAST);
    sim.add({ id: 'auth-1' });
    expect(await wrong.cancel('auth-1')).toMatchObject({ kind: 'unauthorized', httpStatus: 401 });
    expect(sim.executions.get('auth-1')?.state).toBe('running');
  });

  it('ids are percent-encoded: "../../admin" cannot change the path; "a/b" is one id', async () => {
    expect(await adapter.cancel('../../admin')).toMatchObject({ kind: 'not_found' });
    expect(sim.cancelCalls.get('../../admin')).toBeGreaterThanOrEqual(1);
    sim.add({ id: 'team/a b?c' });
    expect((await adapter.cancel('team/a b?c')).kind).toMatch(/^cancel(led|_pending)$/);
    expect(encodeId('../x')).toBe('%2E%2E%2Fx');
  });

  it('faults: 5xx → transient, hang → transient (timeout), reset → transient, malformed → invalid_response', async () => {
    sim.add({ id: 'f-1' });
    sim.faults = { errorRate: 1 };
    expect(await adapter.cancel('f-1')).toMatchObject({ kind: 'transient', error: 'HTTP 503' });
    sim.faults = { hang: true };
    expect(await adapter.cancel('f-1')).toMatchObject({ kind: 'transient' });
    sim.faults = { reset: true };
    expect(await adapter.cancel('f-1')).toMatchObject({ kind: 'transient' });
    sim.faults = { malformed: true };
    expect(await adapter.status('f-1')).toMatchObject({ kind: 'invalid_response' });
  });

  it('a cancel is sent once per call on 5xx and timeouts (it may have landed); status reads are retried', async () => {
    sim.add({ id: 'once-1' });
    let gets = 0;
    let cancels = 0;
    sim.onRequest = (r) => {
      if (r.method === 'GET') gets++;
      else cancels++;
    };
    sim.faults = { errorRate: 1 };
    expect(await adapter.cancel('once-1')).toMatchObject({ kind: 'transient' });
    sim.faults = { hang: true };
    expect(await adapter.cancel('once-1')).toMatchObject({ kind: 'transient' });
    expect(cancels).toBe(2); // one per call, not FAST.attempts per call
    sim.faults = { errorRate: 1 };
    gets = 0;
    expect(await adapter.status('once-1')).toMatchObject({ kind: 'transient' });
    expect(gets).toBe(FAST.attempts);
    sim.onRequest = undefined;
  });

  it('429: retried within budget; a long Retry-After is handed back', async () => {
    sim.add({ id: 'rl-1' });
    sim.faults = { rateLimitNext: 1, retryAfterSec: 0 };
    expect((await adapter.cancel('rl-1')).kind).toMatch(/^cancel(led|_pending)$/);
    sim.add({ id: 'rl-2' });
    sim.faults = { rateLimitNext: 5, retryAfterSec: 30 };
    expect(await adapter.cancel('rl-2')).toEqual({ kind: 'rate_limited', retryAfterMs: 30_000 });
  });

  it('latency within the timeout is fine', async () => {
    sim.add({ id: 'slow-1' });
    sim.faults = { latencyMs: 50 };
    expect((await adapter.cancel('slow-1')).kind).toMatch(/^cancel(led|_pending)$/);
  });
});

describe('superglue specifics', () => {
  it('a run already aborted (200 `aborted` to a cancel) is read first: already_finished, no second cancel; 400 on finished: already_finished', async () => {
    const sim = await startSimulator('superglue');
    const a = createAdapter(BUILTIN.superglue.spec, sim.url, creds(sim.apiKey), FAST);
    sim.add({ id: 'x' });
    expect(await a.cancel('x')).toMatchObject({ kind: 'cancelled' });
    expect(await a.cancel('x')).toMatchObject({ kind: 'already_finished', status: { raw: 'aborted' } });
    expect(sim.cancelCalls.get('x')).toBe(1);
    sim.add({ id: 'y', state: 'succeeded' });
    expect(await a.cancel('y')).toMatchObject({ kind: 'already_finished', status: { raw: 'success' } });
    await sim.close();
  });
});

describe('generic http provider (declared in config)', () => {
  it('drives the Catalyzed simulator from a config declaration alone', async () => {
    const sim = await startSimulator('catalyzed');
    const spec = genericHttpSpec(
      'acme',
      HttpProvider.parse({
        type: 'http',
        auth: { header: 'Authorization', prefix: 'Bearer ' },
        cancel: { path: '/pipeline-executions/{id}/cancel', alreadyFinished: [409] },
        status: {
          path: '/pipeline-executions/{id}',
          statusPointer: '/status',
          progressPointer: '/progressPct',
          terminal: { succeeded: ['succeeded'], failed: ['failed'], cancelled: ['cancelled'] },
        },
      }),
    );
    const a = createAdapter(spec, sim.url, creds(sim.apiKey), FAST);
    sim.add({ id: 'g1', total: 4, done: 1 });
    expect(await a.status('g1')).toMatchObject({ kind: 'status', status: { phase: 'running', progress: { fraction: 0.25 } } });
    expect(await a.cancel('g1')).toMatchObject({ kind: 'cancelled' });
    sim.add({ id: 'g2', state: 'succeeded' });
    expect(await a.cancel('g2')).toMatchObject({ kind: 'already_finished', status: { result: 'succeeded' } });
    await sim.close();
  });

  it('a platform with a cancel call and no status call: its 2xx is the cancel done (once), a declared 409 already finished', async () => {
    const sim = await startSimulator('catalyzed');
    const spec = genericHttpSpec(
      'bare',
      HttpProvider.parse({
        type: 'http',
        auth: { header: 'Authorization', prefix: 'Bearer ' },
        cancel: { path: '/pipeline-executions/{id}/cancel', alreadyFinished: [409] },
      }),
    );
    const a = createAdapter(spec, sim.url, creds(sim.apiKey), FAST);
    expect(a.hasStatus).toBe(false);
    sim.add({ id: 'b1' });
    expect(await a.cancel('b1')).toEqual({ kind: 'cancelled' });
    expect(sim.cancelCalls.get('b1')).toBe(1);
    sim.add({ id: 'b2', state: 'succeeded' });
    expect(await a.cancel('b2')).toMatchObject({ kind: 'already_finished', status: { raw: 'HTTP 409' } });
    await sim.close();
  });
});

describe('secrets never reach logs', () => {
  it('captures all output of a failing and a succeeding cancel: the key is absent', async () => {
    const key = 'cat_tok_SUPER_SECRET_123';
    const sim = await startSimulator('catalyzed', { apiKey: key });
    const captured: string[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void captured.push(a.map(String).join(' '))),
    );
    const outSpy = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (captured.push(String(c)), true));
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (captured.push(String(c)), true));
    try {
      const a = createAdapter(BUILTIN.catalyzed.spec, sim.url, creds(key), FAST);
      sim.add({ id: 'ok' });
      const ok = await a.cancel('ok');
      sim.faults = { errorRate: 1 };
      const bad = await a.cancel('ok2');
      captured.push(JSON.stringify(ok), JSON.stringify(bad));
    } finally {
      for (const s of [...spies, outSpy, errSpy]) s.mockRestore();
      await sim.close();
    }
    expect(captured.join('\n')).not.toContain(key);
    expect(captured.length).toBeGreaterThanOrEqual(2);
  });
});

describe('http helpers', () => {
  it('Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
  it('refuses plain http to a non-local host', () => {
    expect(() => createAdapter(BUILTIN.catalyzed.spec, 'http://api.catalyzed.ai', creds('k'))).toThrow(/must be https/);
  });
});
