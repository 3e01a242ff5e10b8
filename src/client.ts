/**
 * WatchdogClient: a tiny typed client for the tracking API, for TypeScript callers.
 *
 *   const wd = new WatchdogClient({ baseUrl, signingSecret });   // or { apiKey }
 *   const { execution } = await wd.track({ connection: 'kodexa-acme', externalId: runId });
 *   await wd.heartbeat(execution.id, { progress: { done: 12, total: 50 }, costUsd: 3.2 });
 *   await wd.finish(execution.id, 'succeeded');
 *
 * A heartbeat after the watchdog stopped the run throws ExecutionEndedError (who, why): stop
 * the run. `stopped(id)` asks without a heartbeat; `untilStopped(id)` waits for it.
 *
 * Imports only the wire types and the signer: the client package ships this file alone.
 */
import type { Actor, AuditEvent, ErrorCode, ExecutionState, HeartbeatInput, PublicExecution, StopReason, TrackRequest } from './api/wire.js';
import { signedHeaders, targetOf } from './security/signing.js';

export type { Actor, AuditEvent, ErrorCode, ExecutionState, HeartbeatInput, PublicExecution, StopReason, TrackRequest };

export interface WatchdogClientOptions {
  baseUrl: string;
  /** v2 HMAC signing over method, path and body (webhook.hooks secret) … */
  signingSecret?: string;
  /** … or a bearer API key (webhook.api secret). */
  apiKey?: string;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** The fetch to use (a proxy agent, tests); default the global one. */
  fetch?: typeof globalThis.fetch;
  /**
   * Attempts per call on 429, 5xx and network errors, with exponential backoff and jitter
   * (honouring Retry-After up to 10 s). Safe: track, heartbeat and finish are idempotent.
   * Default 4; 1 turns retries off.
   */
  attempts?: number;
  /** The first backoff in ms (then ×2 per attempt, jittered). Default 250. */
  backoffMs?: number;
}

/**
 * A non-2xx answer: the HTTP status, the API's stable `code` (ErrorCode; absent only when the
 * answer did not come from the watchdog, e.g. a proxy), its error text, and the body as received.
 */
export class WatchdogApiError extends Error {
  override name = 'WatchdogApiError';
  readonly code: ErrorCode | undefined;
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
    const code = (body as { code?: unknown } | undefined)?.code;
    this.code = typeof code === 'string' ? (code as ErrorCode) : undefined;
  }
}

/** How an execution ended: what a tracker must know to stop its run. */
export interface Stopped {
  state: ExecutionState;
  /** True when the watchdog (a policy or a person) stopped it, not the tracker's own finish. */
  cancelled: boolean;
  /** Who asked for the cancel: a person (`slack:U…`, `cli:alice`) or `policy:<name>`. */
  by?: Actor;
  /** Which limit (runtime, stall, heartbeat, cost) or `manual`. */
  reasons: StopReason[];
  /** When it ended (epoch ms). */
  at?: number;
  execution: PublicExecution;
}

const ENDED: ReadonlySet<ExecutionState> = new Set(['cancelled', 'cancel_failed', 'cancel_unconfirmed', 'finished']);

/** Whether an execution is over, and if so how. */
export function stoppedOf(execution: PublicExecution): Stopped | undefined {
  if (!ENDED.has(execution.state)) return undefined;
  return {
    state: execution.state,
    cancelled: execution.state !== 'finished',
    ...(execution.state !== 'finished' && execution.requestedBy ? { by: execution.requestedBy } : {}),
    reasons: execution.state === 'finished' ? [] : (execution.stopReasons ?? []),
    ...(execution.endedAt !== undefined ? { at: execution.endedAt } : {}),
    execution,
  };
}

/**
 * The execution is over (409 `execution_ended`): a heartbeat or finish after the watchdog
 * cancelled it (or after it finished). `stopped` says who stopped it and why: stop the run.
 */
export class ExecutionEndedError extends WatchdogApiError {
  override name = 'ExecutionEndedError';
  constructor(
    status: number,
    message: string,
    body: unknown,
    readonly stopped: Stopped,
  ) {
    super(status, message, body);
  }
}

export class WatchdogClient {
  constructor(private readonly o: WatchdogClientOptions) {
    if (!o.signingSecret && !o.apiKey) throw new Error('WatchdogClient needs signingSecret or apiKey');
  }

  track(body: TrackRequest): Promise<{ created: boolean; execution: PublicExecution }> {
    return this.call('POST', '/v1/executions', body);
  }

  /**
   * Liveness, progress, cost. Each heartbeat carries a `seq` that grows (unless you give one),
   * and its retries the same: a late copy never rolls back a newer heartbeat.
   */
  heartbeat(id: string, body: HeartbeatInput = {}): Promise<{ execution: PublicExecution }> {
    return this.call('POST', `/v1/executions/${encodeURIComponent(id)}/heartbeat`, { ...body, seq: body.seq ?? this.nextSeq() });
  }

  private lastSeq = 0;
  /** Microseconds since the epoch, and never the same twice in this client. */
  private nextSeq(): number {
    this.lastSeq = Math.max(Date.now() * 1000, this.lastSeq + 1);
    return this.lastSeq;
  }

  finish(id: string, status?: string): Promise<{ execution: PublicExecution }> {
    return this.call('POST', `/v1/executions/${encodeURIComponent(id)}/finish`, status ? { status } : {});
  }

  get(id: string): Promise<{ execution: PublicExecution; events: AuditEvent[] }> {
    return this.call('GET', `/v1/executions/${encodeURIComponent(id)}`);
  }

  /** Whether the execution is over (and how), without a heartbeat: poll this. */
  async stopped(id: string): Promise<Stopped | undefined> {
    return stoppedOf((await this.get(id)).execution);
  }

  /**
   * Resolves when the execution is over (how: `Stopped`), checking every `everyMs` (default
   * 30 s); rejects when `signal` aborts. Await it beside the run, and stop the run when it resolves.
   */
  async untilStopped(id: string, opts: { everyMs?: number; signal?: AbortSignal } = {}): Promise<Stopped> {
    for (;;) {
      opts.signal?.throwIfAborted();
      const s = await this.stopped(id);
      if (s) return s;
      await sleep(opts.everyMs ?? 30_000, opts.signal);
    }
  }

  /**
   * One call, retried on what the watchdog's side may heal from (429, 5xx, the network): a
   * heartbeat lost to the watchdog's own hiccup must not read as a dead run. Each attempt is
   * signed afresh (a new timestamp and nonce).
   */
  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const attempts = Math.max(1, this.o.attempts ?? 4);
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.send(method, path, body);
      } catch (err) {
        if (attempt >= attempts || !retryableError(err)) throw err;
        await sleep(this.backoff(attempt));
        continue;
      }
      if (attempt < attempts && (res.status === 429 || res.status >= 500)) {
        await res.body?.cancel();
        await sleep(this.backoff(attempt, res.headers.get('retry-after')));
        continue;
      }
      return this.read<T>(res);
    }
  }

  private backoff(attempt: number, retryAfter?: string | null): number {
    const seconds = retryAfter ? Number(retryAfter) : NaN;
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(10_000, seconds * 1000);
    const base = (this.o.backoffMs ?? 250) * 2 ** (attempt - 1);
    return base / 2 + Math.random() * (base / 2);
  }

  private send(method: string, path: string, body?: unknown): Promise<Response> {
    const text = body === undefined ? '' : JSON.stringify(body);
    // Relative to the base URL's own path (an API Gateway stage: https://…/prod/): `path` adds to it.
    const base = this.o.baseUrl.endsWith('/') ? this.o.baseUrl : `${this.o.baseUrl}/`;
    const url = new URL(path.replace(/^\//, ''), base);
    const auth = this.o.signingSecret
      ? signedHeaders(this.o.signingSecret, { method, target: targetOf(url.href), body: text })
      : { authorization: `Bearer ${this.o.apiKey}` };
    return (this.o.fetch ?? globalThis.fetch)(url, {
      method,
      headers: { 'content-type': 'application/json', ...auth },
      ...(body === undefined ? {} : { body: text }),
      redirect: 'error',
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
    });
  }

  private async read<T>(res: Response): Promise<T> {
    const raw = await res.text();
    let json: unknown;
    try {
      json = raw === '' ? {} : JSON.parse(raw);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const { error, code, execution } = (json ?? {}) as { error?: unknown; code?: unknown; execution?: PublicExecution };
      const message = typeof error === 'string' ? error : `HTTP ${res.status}`;
      const stopped = code === 'execution_ended' && execution && typeof execution === 'object' ? stoppedOf(execution) : undefined;
      if (stopped) throw new ExecutionEndedError(res.status, message, json, stopped);
      throw new WatchdogApiError(res.status, message, json ?? raw);
    }
    if (json === undefined) throw new WatchdogApiError(res.status, `HTTP ${res.status} with a body that is not JSON`, raw);
    return json as T;
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      const reason: unknown = signal!.reason;
      reject(reason instanceof Error ? reason : new Error(String(reason)));
    }
    signal?.addEventListener('abort', abort, { once: true });
  });

/** A network failure or a timeout (the request may not have arrived): worth another attempt. */
function retryableError(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  return err instanceof TypeError || name === 'TimeoutError' || name === 'AbortError';
}
