/**
 * WatchdogClient: a tiny typed client for the tracking API, for TypeScript callers.
 *
 *   const wd = new WatchdogClient({ baseUrl, signingSecret });   // or { apiKey }
 *   const { execution } = await wd.track({ connection: 'kodexa-acme', externalId: runId });
 *   await wd.heartbeat(execution.id, { progress: { done: 12, total: 50 }, costUsd: 3.2 });
 *   await wd.finish(execution.id, 'succeeded');
 */
import type { AuditEvent, HeartbeatInput, PublicExecution } from './core/model.js';

export type { PublicExecution };
import { signedHeaders, targetOf } from './security/signing.js';
import type { TrackRequest } from './app/service.js';

export interface WatchdogClientOptions {
  baseUrl: string;
  /** v2 HMAC signing over method, path and body (webhook.hooks secret) … */
  signingSecret?: string;
  /** … or a bearer API key (webhook.api secret). */
  apiKey?: string;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** The fetch to use (a proxy agent, retries, tests); default the global one. */
  fetch?: typeof globalThis.fetch;
}

/** A non-2xx answer: the HTTP status, the API's error text, and the body as received. */
export class WatchdogApiError extends Error {
  override name = 'WatchdogApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
  }
}

export class WatchdogClient {
  constructor(private readonly o: WatchdogClientOptions) {
    if (!o.signingSecret && !o.apiKey) throw new Error('WatchdogClient needs signingSecret or apiKey');
  }

  track(body: TrackRequest): Promise<{ created: boolean; execution: PublicExecution }> {
    return this.call('POST', '/v1/executions', body);
  }

  heartbeat(id: string, body: HeartbeatInput = {}): Promise<{ execution: PublicExecution }> {
    return this.call('POST', `/v1/executions/${encodeURIComponent(id)}/heartbeat`, body);
  }

  finish(id: string, status?: string): Promise<{ execution: PublicExecution }> {
    return this.call('POST', `/v1/executions/${encodeURIComponent(id)}/finish`, status ? { status } : {});
  }

  get(id: string): Promise<{ execution: PublicExecution; events: AuditEvent[] }> {
    return this.call('GET', `/v1/executions/${encodeURIComponent(id)}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const url = new URL(path, this.o.baseUrl);
    const auth = this.o.signingSecret
      ? signedHeaders(this.o.signingSecret, { method, target: targetOf(url.href), body: text })
      : { authorization: `Bearer ${this.o.apiKey}` };
    const res = await (this.o.fetch ?? globalThis.fetch)(url, {
      method,
      headers: { 'content-type': 'application/json', ...auth },
      ...(body === undefined ? {} : { body: text }),
      redirect: 'error',
      signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
    });
    const raw = await res.text();
    let json: unknown;
    try {
      json = raw === '' ? {} : JSON.parse(raw);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const error = (json as { error?: unknown } | undefined)?.error;
      throw new WatchdogApiError(res.status, typeof error === 'string' ? error : `HTTP ${res.status}`, json ?? raw);
    }
    if (json === undefined) throw new WatchdogApiError(res.status, `HTTP ${res.status} with a body that is not JSON`, raw);
    return json as T;
  }
}
