/**
 * Local HTTP simulators of the five platforms, for tests, benchmarks and the demo.
 * Each follows its seed (see dialects.ts); faults are injected through /_sim/faults:
 * latency, 5xx rate, hangs, malformed JSON, connection resets, 429 with Retry-After.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DIALECTS, type Dialect, type Reply, type SimExecution, type SimState } from './dialects.js';

export type { SimExecution, SimState };
import { PROBE_EXTERNAL_ID } from '../app/probe.js';

export interface Faults {
  latencyMs?: number;
  /** Fraction of requests answered 503. */
  errorRate?: number;
  /** Never answer. */
  hang?: boolean;
  /** Fraction of requests never answered (timeouts). */
  hangRate?: number;
  malformed?: boolean;
  reset?: boolean;
  /** Only the list route (discovery): never answer, or answer 503. */
  listFault?: 'hang' | 'error';
  /** Answer the next N requests with 429 + Retry-After. */
  rateLimitNext?: number;
  /** Only requests whose path names this execution count toward rateLimitNext (others, e.g. probes, pass). */
  rateLimitId?: string;
  retryAfterSec?: number;
}

export interface Simulator {
  readonly platform: string;
  readonly url: string;
  readonly apiKey: string;
  readonly executions: Map<string, SimExecution>;
  /** Cancel calls received per execution id (duplicates show up here). */
  readonly cancelCalls: Map<string, number>;
  /** List calls received (discovery). */
  readonly listCalls: { count: number };
  faults: Faults;
  /** Called on every request received, before faults (contract tests inspect them). */
  onRequest?: (req: { method: string; path: string; headers: Record<string, string | string[] | undefined> }) => void;
  /** Called on every cancel request received (benchmarks time them). */
  onCancel?: (id: string) => void;
  add(e: Partial<SimExecution> & { id: string }): SimExecution;
  close(): Promise<void>;
}

const TERMINAL = new Set<SimState>(['succeeded', 'failed', 'cancelled']);

export interface SimulatorOptions {
  apiKey?: string;
  port?: number;
  kodexaCancelMs?: number;
  /** Demo: an id never seen before is a run that has been going since it was first asked about. */
  autoCreate?: boolean;
}

export async function startSimulator(platform: string, opts: SimulatorOptions = {}): Promise<Simulator> {
  const dialect: Dialect | undefined = Object.hasOwn(DIALECTS, platform) ? DIALECTS[platform] : undefined;
  if (!dialect) throw new Error(`no simulator for "${platform}"; expected one of ${Object.keys(DIALECTS).join(', ')}`);
  const executions = new Map<string, SimExecution>();
  const cancelCalls = new Map<string, number>();
  const listCalls = { count: 0 };
  const apiKey = opts.apiKey ?? `${platform}-sim-key`;
  const sim: Simulator = {
    platform,
    url: '',
    apiKey,
    executions,
    cancelCalls,
    listCalls,
    faults: {},
    add(e) {
      const full: SimExecution = { state: 'running', done: 0, startedAt: Date.now(), ...e };
      executions.set(full.id, full);
      return full;
    },
    close: async () => {},
  };

  const advance = (e: SimExecution, now: number): void => {
    if (e.state === 'cancelling' && e.cancelledAt !== undefined && now >= e.cancelledAt) {
      e.state = 'cancelled';
      e.endedAt = e.cancelledAt;
    }
    if (!TERMINAL.has(e.state) && e.finishAt !== undefined && now >= e.finishAt) {
      e.state = 'succeeded';
      e.endedAt = e.finishAt;
      if (e.total) e.done = e.total;
    }
  };

  const handle = (req: http.IncomingMessage): Reply | 'hang' | 'reset' => {
    sim.onRequest?.({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    const f = sim.faults;
    if (f.hang || (f.hangRate && Math.random() < f.hangRate)) return 'hang';
    if (f.reset) return 'reset';
    if (f.rateLimitNext && f.rateLimitNext > 0 && (f.rateLimitId === undefined || (req.url ?? '').includes(encodeURIComponent(f.rateLimitId)))) {
      f.rateLimitNext--;
      return {
        status: 429,
        body: dialect.error(429, 'Too many requests'),
        headers: { 'retry-after': String(f.retryAfterSec ?? 1), 'x-ratelimit-remaining': '0' },
      };
    }
    if (f.errorRate && Math.random() < f.errorRate) return { status: 503, body: dialect.error(503, 'Service unavailable') };
    const key = dialect.key(req.headers);
    if (key !== apiKey) return { status: 401, body: dialect.error(401, 'Unauthorized') };
    const url = new URL(req.url ?? '/', 'http://sim');
    // Match on the raw (still percent-encoded) path: an encoded id is one segment.
    const path = url.pathname;
    const now = Date.now();
    const find = (m: RegExpExecArray | null): SimExecution | undefined => {
      if (!m?.[1]) return undefined;
      const id = decodeURIComponent(m[1]);
      // The connection probe's id is never a run, even in the demo.
      const e = executions.get(id) ?? (opts.autoCreate && id !== PROBE_EXTERNAL_ID ? sim.add({ id }) : undefined);
      if (e) advance(e, now);
      return e;
    };
    if (req.method === dialect.cancel.method && dialect.cancel.pattern.test(path)) {
      const e = find(dialect.cancel.pattern.exec(path));
      const id = decodeURIComponent(dialect.cancel.pattern.exec(path)?.[1] ?? '');
      cancelCalls.set(id, (cancelCalls.get(id) ?? 0) + 1);
      sim.onCancel?.(id);
      if (!e) return { status: 404, body: dialect.error(404, 'Not found') };
      if (TERMINAL.has(e.state)) return dialect.cancelFinished(e);
      if (e.state !== 'cancelling') {
        if (dialect.cancelIsAsync) {
          e.state = 'cancelling';
          e.cancelledAt = now + (opts.kodexaCancelMs ?? 1_000);
        } else {
          e.state = 'cancelled';
          e.endedAt = now;
        }
      }
      return { status: 200, body: dialect.render(e) };
    }
    if (dialect.elements && req.method === 'GET' && dialect.elements.test(path)) {
      const e = find(dialect.elements.exec(path));
      if (!e) return { status: 404, body: dialect.error(404, 'Not found') };
      const total = e.total ?? 0;
      return {
        status: 200,
        body: Array.from({ length: total }, (_, i) => ({ id: `el${i}`, status: i < e.done ? 'completed' : TERMINAL.has(e.state) ? 'canceled' : 'running' })),
      };
    }
    if (dialect.list && req.method === 'GET' && dialect.list.pattern.test(path)) {
      listCalls.count++;
      if (f.listFault === 'hang') return 'hang';
      if (f.listFault === 'error') return { status: 503, body: dialect.error(503, 'Service unavailable') };
      const all = [...executions.values()];
      for (const e of all) advance(e, now);
      return dialect.list.page(all, url.searchParams);
    }
    if (req.method === dialect.status.method && dialect.status.pattern.test(path)) {
      const e = find(dialect.status.pattern.exec(path));
      if (!e) return { status: 404, body: dialect.error(404, 'Not found') };
      return { status: 200, body: dialect.render(e) };
    }
    return { status: 404, body: dialect.error(404, 'No route') };
  };

  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const reply = handle(req);
      if (reply === 'hang') return;
      if (reply === 'reset') {
        req.socket.destroy();
        return;
      }
      const send = (): void => {
        const body = sim.faults.malformed && reply.status === 200 ? '{"status": "runn' : JSON.stringify(reply.body);
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(body);
      };
      if (sim.faults.latencyMs) setTimeout(send, sim.faults.latencyMs);
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  Object.assign(sim, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return sim;
}
