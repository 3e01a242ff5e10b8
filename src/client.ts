/**
 * WatchdogClient: a tiny typed client for the tracking API, for TypeScript callers.
 *
 *   const wd = new WatchdogClient({ baseUrl, signingSecret });   // or { apiKey }
 *   const { execution } = await wd.track({ connection: 'kodexa-acme', externalId: runId });
 *   await wd.heartbeat(execution.id, { progress: { done: 12, total: 50 }, costUsd: 3.2 });
 *   await wd.finish(execution.id, 'succeeded');
 */
import type { AuditEvent, Execution, HeartbeatInput } from './core/model.js';
import { signedHeaders, targetOf } from './security/signing.js';
import type { TrackRequest } from './watchdog.js';

export interface WatchdogClientOptions {
  baseUrl: string;
  /** v2 HMAC signing over method, path and body (webhook.hooks secret) … */
  signingSecret?: string;
  /** … or a bearer API key (webhook.api secret). */
  apiKey?: string;
  timeoutMs?: number;
}

export class WatchdogApiError extends Error {
  override name = 'WatchdogApiError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export type PublicExecution = Omit<Execution, 'outbox' | 'outboxEvents' | 'pendingEvent' | 'lease' | 'threads'>;

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
    const res = await fetch(url, {
      method, headers: { 'content-type': 'application/json', ...auth }, ...(body === undefined ? {} : { body: text }),
      redirect: 'error', signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
    });
    const json = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok) throw new WatchdogApiError(res.status, json.error ?? `HTTP ${res.status}`);
    return json as T;
  }
}
