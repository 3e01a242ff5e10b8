/**
 * HTTP for provider adapters and chat notices, on the fetch that Node.js ships. That fetch
 * *is* undici (Node bundles it, parser and all), so the Lambda gets undici's keep-alive pool
 * per origin without carrying the package's ~280 KB in its bundle. On top of it: a deadline
 * per attempt, no redirects followed, a cap on response size, Retry-After honoured and capped
 * exponential backoff with jitter for retryable answers.
 */
import { InputError } from '../errors.js';

export interface HttpOptions {
  /** Deadline for one attempt: connect, headers and body together. Default 10 s. */
  timeoutMs?: number;
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

export const backoffMs = (attempt: number, base: number, cap: number): number =>
  Math.round(Math.random() * Math.min(cap, base * 2 ** attempt)); // "full jitter"

const DEFAULTS: Required<HttpOptions> = {
  timeoutMs: 10_000, maxResponseBytes: 1_000_000, attempts: 3, baseBackoffMs: 200, maxBackoffMs: 2_000,
};

/** Read a body up to `max` bytes; a larger one is a transport fault and the stream is dropped. */
async function readCapped(res: Response, max: number): Promise<string> {
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new TransportError(`response larger than ${max} bytes`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) throw new TransportError(`response larger than ${max} bytes`); // leaving the loop cancels the stream
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch rejects with a TimeoutError on our deadline and a TypeError with a cause on network faults. */
function transportFault(err: unknown, timeoutMs: number): TransportError | undefined {
  if (err instanceof TransportError) return err;
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new TransportError(`no answer within ${timeoutMs} ms`);
  if (e instanceof TypeError && e.cause) return new TransportError(`${e.cause.code ?? e.cause.name}: ${e.cause.message}`);
  return undefined;
}

export class HttpClient {
  private readonly base: URL;
  private readonly o: Required<HttpOptions>;

  constructor(baseUrl: string, opts: HttpOptions = {}) {
    this.base = checkBaseUrl(baseUrl);
    this.o = { ...DEFAULTS, ...opts };
  }

  private async once(method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    const url = this.base.origin + this.base.pathname.replace(/\/$/, '') + path;
    try {
      const res = await fetch(url, {
        method,
        headers: { accept: 'application/json', 'user-agent': USER_AGENT, ...headers },
        redirect: 'manual',
        signal: AbortSignal.timeout(this.o.timeoutMs),
        ...(body === undefined ? {} : { body }),
      });
      const text = await readCapped(res, this.o.maxResponseBytes);
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: Object.fromEntries(res.headers), text, json };
    } catch (err) {
      throw transportFault(err, this.o.timeoutMs) ?? err;
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
