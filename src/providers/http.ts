/**
 * HTTP for provider adapters, on undici: a keep-alive pool per origin, connect/headers/body
 * timeouts, no redirects followed, a cap on response size, Retry-After honoured and capped
 * exponential backoff with jitter for retryable answers.
 */
// undici's Pool and errors only: its index pulls in fetch, WebSocket, caches and mocks too
// (~520 KB and ~50 ms of Lambda init). The version is pinned, so the paths are stable.
import Pool from 'undici/lib/dispatcher/pool.js';
import undiciErrors from 'undici/lib/core/errors.js';
import undiciRequest from 'undici/lib/api/api-request.js';
import { InputError } from '../errors.js';

export interface HttpOptions {
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  maxResponseBytes?: number;
  /** Attempts for retryable answers (429, 5xx, transport faults). Default 3. */
  attempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

export class TransportError extends Error {
  override name = 'TransportError';
}

const pools = new Map<string, Pool>();
function poolFor(origin: string, o: Required<HttpOptions>): Pool {
  let p = pools.get(origin);
  if (!p) {
    p = new Pool(origin, { connections: 32, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: o.connectTimeoutMs }, headersTimeout: o.headersTimeoutMs, bodyTimeout: o.bodyTimeoutMs });
    pools.set(origin, p);
  }
  return p;
}

export async function closePools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.allSettled(all.map((p) => p.destroy()));
}

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

export const backoffMs = (attempt: number, base: number, cap: number): number =>
  Math.round(Math.random() * Math.min(cap, base * 2 ** attempt)); // "full jitter"

const DEFAULTS: Required<HttpOptions> = {
  connectTimeoutMs: 3_000, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, maxResponseBytes: 1_000_000,
  attempts: 3, baseBackoffMs: 200, maxBackoffMs: 2_000,
};

export class HttpClient {
  private readonly base: URL;
  private readonly o: Required<HttpOptions>;

  constructor(baseUrl: string, opts: HttpOptions = {}) {
    this.base = checkBaseUrl(baseUrl);
    this.o = { ...DEFAULTS, ...opts };
  }

  private async once(method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    const basePath = this.base.pathname.replace(/\/$/, '');
    try {
      const res = await undiciRequest.call(poolFor(this.base.origin, this.o), {
        method: method as 'GET', path: basePath + path, headers: { accept: 'application/json', ...headers },
        ...(body === undefined ? {} : { body }),
      });
      let size = 0;
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.o.maxResponseBytes) {
          res.body.destroy();
          throw new TransportError(`response larger than ${this.o.maxResponseBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.statusCode, headers: res.headers, text, json };
    } catch (err) {
      if (err instanceof TransportError) throw err;
      const e = err as Error & { code?: string };
      if (e instanceof undiciErrors.UndiciError || e.code) throw new TransportError(`${e.code ?? e.name}: ${e.message}`);
      throw err;
    }
  }

  /** One request with retries for 429/5xx/transport faults. The last answer (or fault) wins. */
  async request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    let last: HttpAnswer | TransportError | undefined;
    for (let attempt = 0; attempt < this.o.attempts; attempt++) {
      if (attempt > 0) {
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
