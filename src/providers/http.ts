/**
 * HTTP for provider adapters, chat notices and outgoing hooks, on undici: one keep-alive
 * Pool per origin (its connection count tied to `providerConcurrency`), separate connect,
 * headers and body timeouts, no redirects followed, a cap on response size, Retry-After
 * honoured and capped exponential backoff with jitter for retryable answers. undici is
 * loaded on the first call, so a sweep with nothing to do never pays for it.
 *
 * The retry loop is ours, not undici's RetryHandler: a cancel (a write) may be retried
 * within a call only on 429, the one answer that says it was not acted on, and a
 * Retry-After longer than our cap is handed back to the sweep (which retries it later)
 * rather than waited out — RetryHandler waits a capped hint and retries writes on 5xx.
 */
import { InputError } from '../errors.js';

export interface HttpOptions {
  /** Headers and body timeouts of one attempt (each), and the connect timeout when that is not set. Default 10 s. */
  timeoutMs?: number;
  /** TCP + TLS connect timeout. Default: min(timeoutMs, 5 s). */
  connectTimeoutMs?: number;
  /** Connections per origin (the sweep passes providerConcurrency). Default 16. */
  connections?: number;
  maxResponseBytes?: number;
  /** Attempts for retryable answers (429, 5xx, transport faults). Default 3. */
  attempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | undefined>;
  text: string;
  json: unknown;
}

export class TransportError extends Error {
  override name = 'TransportError';
}

const USER_AGENT = 'runaway-watchdog/0.1';

const isLocal = (h: string) => h === '127.0.0.1' || h === 'localhost' || h === '[::1]';

/** https only, unless explicitly local. */
export function checkBaseUrl(baseUrl: string): URL {
  let u: URL;
  try {
    u = new URL(baseUrl);
  } catch {
    throw new InputError(`invalid base URL "${baseUrl}"`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLocal(u.hostname))) {
    throw new InputError(`base URL must be https:// (http:// only for 127.0.0.1/localhost): "${baseUrl}"`);
  }
  return u;
}

/** Percent-encode an external id as one path segment: "../../admin" cannot change the path. */
export const encodeId = (id: string): string => encodeURIComponent(id).replace(/\./g, '%2E');

/** Retry-After as seconds or an HTTP date → ms (undefined when absent or unparseable). */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export const backoffMs = (attempt: number, base: number, cap: number): number => Math.round(Math.random() * Math.min(cap, base * 2 ** attempt)); // "full jitter"

const DEFAULTS = {
  timeoutMs: 10_000,
  maxResponseBytes: 1_000_000,
  attempts: 3,
  baseBackoffMs: 200,
  maxBackoffMs: 2_000,
  connections: 16,
};

type Pool = import('undici').Pool;
type RequestFn = (this: Pool, opts: import('undici').Dispatcher.RequestOptions) => Promise<import('undici').Dispatcher.ResponseData>;
/**
 * Pool and the request API straight from their modules: undici's index also pulls in fetch,
 * WebSocket, the cache and the proxy agents (~500 KB of the Lambda bundle) that we never use.
 */
let undici: Promise<{ Pool: typeof import('undici').Pool; request: RequestFn }> | undefined;
const loadUndici = () =>
  Promise.all([
    // @ts-expect-error -- deep CommonJS modules of the pinned undici 7.30.2; typed through the package's own types above
    import('undici/lib/dispatcher/pool.js'),
    // @ts-expect-error -- as above
    import('undici/lib/api/api-request.js'),
  ]).then(([pool, request]) => ({ Pool: (pool as { default: typeof import('undici').Pool }).default, request: (request as { default: RequestFn }).default }));
/** One pool per origin and settings, shared by every client in the process (keep-alive across sweeps). */
const pools = new Map<string, Pool>();

async function poolFor(origin: string, o: { connections: number; connectTimeoutMs: number; timeoutMs: number }): Promise<Pool> {
  const key = `${origin} ${o.connections} ${o.connectTimeoutMs} ${o.timeoutMs}`;
  let pool = pools.get(key);
  if (!pool) {
    undici ??= loadUndici();
    const { Pool } = await undici;
    pool =
      pools.get(key) ??
      new Pool(origin, {
        connections: o.connections,
        connect: { timeout: o.connectTimeoutMs },
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
        // Reuse a connection within a burst of calls (a sweep), never after an idle second: a
        // server closing its idle connection just as we reuse it makes a cancel fail ambiguously
        // ("other side closed": did it land?), and a frozen Lambda's timers cannot close them.
        keepAliveTimeout: 1_000,
        keepAliveMaxTimeout: 1_000,
      });
    pools.set(key, pool);
  }
  return pool;
}

/** Close every pool (a CLI run that is done; tests). Pools are made again on the next call. */
export async function closeHttpPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.allSettled(all.map((p) => p.close()));
}

interface Body extends AsyncIterable<Uint8Array> {
  destroy(err?: Error): unknown;
}

/** Read a body up to `max` bytes; a larger one is a transport fault and the stream is dropped. */
async function readCapped(body: Body, contentLength: string | undefined, max: number): Promise<string> {
  if (Number(contentLength ?? 0) > max) {
    body.destroy();
    throw new TransportError(`response larger than ${max} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) {
      body.destroy();
      throw new TransportError(`response larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** undici's errors (timeouts, resets, refused and unresolvable hosts) carry a code. */
function transportFault(err: unknown): TransportError | undefined {
  if (err instanceof TransportError) return err;
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  if (typeof code === 'string') return new TransportError(`${code}: ${e.message}`);
  return undefined;
}

export class HttpClient {
  private readonly base: URL;
  private readonly o: typeof DEFAULTS & { connectTimeoutMs: number };

  constructor(baseUrl: string, opts: HttpOptions = {}) {
    this.base = checkBaseUrl(baseUrl);
    const o = { ...DEFAULTS, ...opts };
    this.o = { ...o, connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(o.timeoutMs, 5_000) };
  }

  /**
   * A link a platform handed back (a next page), as a path under this client's base URL; undefined
   * when it points anywhere else (another host would receive the connection's API key).
   */
  relative(link: string): string | undefined {
    let u: URL;
    try {
      u = new URL(link, this.base.href.endsWith('/') ? this.base.href : `${this.base.href}/`);
    } catch {
      return undefined;
    }
    const basePath = this.base.pathname.replace(/\/$/, '');
    if (u.origin !== this.base.origin || !(u.pathname === basePath || u.pathname.startsWith(`${basePath}/`))) return undefined;
    return u.pathname.slice(basePath.length) + u.search;
  }

  private async once(method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    const pathname = this.base.pathname.replace(/\/$/, '') + path;
    try {
      const pool = await poolFor(this.base.origin, this.o);
      const { request } = await (undici as NonNullable<typeof undici>);
      const res = await request.call(pool, {
        path: pathname,
        method: method as 'GET',
        headers: { accept: 'application/json', 'user-agent': USER_AGENT, ...headers },
        ...(body === undefined ? {} : { body }),
      });
      const len = res.headers['content-length'];
      const text = await readCapped(res.body, Array.isArray(len) ? len[0] : len, this.o.maxResponseBytes);
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const flat: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(res.headers)) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers: flat, text, json };
    } catch (err) {
      throw transportFault(err) ?? err;
    }
  }
  /**
   * One request with retries for 429/5xx/transport faults; the last answer (or fault) wins.
   * A write (a cancel is a POST or PUT) is retried here only on 429, the one answer that says
   * it was not acted on: after a timeout, a reset or a 5xx it may have landed, so the caller
   * records the attempt and, when it retries, reads the outcome first.
   */
  async request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    const read = method === 'GET' || method === 'HEAD';
    let last: HttpAnswer | TransportError | undefined;
    for (let attempt = 0; attempt < this.o.attempts; attempt++) {
      if (attempt > 0) {
        if (!read && (last instanceof TransportError || last?.status !== 429)) break;
        const hinted = last && !(last instanceof TransportError) ? retryAfterMs(last.headers['retry-after']) : undefined;
        const wait = hinted !== undefined ? Math.min(hinted, this.o.maxBackoffMs) : backoffMs(attempt, this.o.baseBackoffMs, this.o.maxBackoffMs);
        // A hint longer than our cap is left to the caller (the sweep retries later).
        if (hinted !== undefined && hinted > this.o.maxBackoffMs) break;
        await new Promise((r) => setTimeout(r, wait));
      }
      try {
        last = await this.once(method, path, headers, body);
        if (last.status !== 429 && last.status < 500) return last;
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        last = err;
      }
    }
    if (last instanceof TransportError || last === undefined) throw last ?? new TransportError('no attempt made');
    return last;
  }
}
