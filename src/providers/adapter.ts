/**
 * The one cancel algorithm all adapters share; each platform supplies a small spec
 * (paths, auth header, status mapping). After any 4xx on cancel the status is read
 * before deciding, so a run that had already finished is never reported as cancelled.
 */
import { HttpClient, type HttpAnswer, type HttpOptions, TransportError, encodeId, retryAfterMs } from './http.js';
import type { CancelOutcome, Fault, ProviderAdapter, ProviderStatus, StatusOutcome } from './types.js';

export interface AdapterSpec {
  id: string;
  cancel: { method: string; path: (encodedId: string) => string };
  status?: { method: string; path: (encodedId: string) => string };
  authHeaders: (apiKey: string) => Record<string, string>;
  /** Map a status (or cancel) response body; undefined when it lacks the fields we use. */
  parse: (body: unknown) => ProviderStatus | undefined;
  /** Optional second read for progress (Ionworks: elements). */
  progress?: (get: (path: string) => Promise<HttpAnswer>, encodedId: string) => Promise<ProviderStatus['progress']>;
  /** For platforms without a status call: 4xx codes that mean "already finished". */
  alreadyFinishedStatuses?: readonly number[];
  /**
   * The cancel answer cannot tell "we stopped it" from "it was already stopped" (a cancel of
   * a run someone else cancelled answers 200 `cancelled`): read the status first, so the
   * audit says who stopped it. One extra call per cancel, only on these platforms.
   */
  ambiguousCancel?: boolean;
}

export interface Credentials {
  apiKey(): Promise<string>;
  /** Called once after a 401/403: fetch the key again (it may have been rotated). */
  refresh(): Promise<string>;
}

class CredentialsError extends Error {
  override name = 'CredentialsError';
}

const truncate = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function createAdapter(spec: AdapterSpec, baseUrl: string, creds: Credentials, http: HttpOptions = {}): ProviderAdapter {
  const client = new HttpClient(baseUrl, http);

  /** The key, or a CredentialsError: a secret that cannot be read is a fault of this call, never an escape. */
  async function key(read: () => Promise<string>): Promise<string> {
    try {
      return await read();
    } catch (err) {
      throw new CredentialsError(`cannot read the connection's secret: ${(err as Error).message?.split('\n')[0] ?? String(err)}`);
    }
  }

  async function call(method: string, path: string): Promise<HttpAnswer> {
    let res = await client.request(method, path, spec.authHeaders(await key(creds.apiKey)));
    if (res.status === 401 || res.status === 403) {
      res = await client.request(method, path, spec.authHeaders(await key(creds.refresh)));
    }
    return res;
  }

  /** Faults of the call itself (transport, credentials) as answers. */
  function callFault(err: unknown): Fault {
    if (err instanceof TransportError) return { kind: 'transient', error: err.message };
    if (err instanceof CredentialsError) return { kind: 'no_credentials', error: err.message };
    throw err;
  }

  function fault(res: HttpAnswer): Fault {
    if (res.status === 429) {
      const ms = retryAfterMs(res.headers['retry-after']);
      return ms === undefined ? { kind: 'rate_limited' } : { kind: 'rate_limited', retryAfterMs: ms };
    }
    if (res.status >= 500) return { kind: 'transient', error: `HTTP ${res.status}` };
    if (res.status === 401 || res.status === 403) return { kind: 'unauthorized', httpStatus: res.status };
    if (res.status === 404) return { kind: 'not_found', httpStatus: 404 };
    if (res.status >= 300 && res.status < 400) return { kind: 'invalid_response', error: `unexpected redirect (HTTP ${res.status}), not followed` };
    return { kind: 'rejected', httpStatus: res.status, error: truncate(res.text) };
  }

  async function status(externalId: string): Promise<StatusOutcome> {
    if (!spec.status) return { kind: 'invalid_response', error: `${spec.id} has no status call` };
    const enc = encodeId(externalId);
    try {
      const res = await call(spec.status.method, spec.status.path(enc));
      if (res.status < 200 || res.status >= 300) return fault(res);
      const s = spec.parse(res.json);
      if (!s) return { kind: 'invalid_response', error: `unexpected status body: ${truncate(res.text, 120)}` };
      if (spec.progress && s.phase !== 'finished') {
        const p = await spec.progress((path) => call('GET', path), enc).catch(() => undefined);
        if (p) s.progress = p;
      }
      return { kind: 'status', status: s };
    } catch (err) {
      return callFault(err);
    }
  }

  function fromStatus(s: ProviderStatus, acceptedByUs: boolean): CancelOutcome {
    if (s.phase === 'finished') {
      // Our call was accepted and the platform now reports it cancelled: that was us.
      if (acceptedByUs && s.result === 'cancelled') return { kind: 'cancelled', status: s };
      return { kind: 'already_finished', status: s };
    }
    return { kind: 'cancel_pending', status: s };
  }

  async function cancel(externalId: string): Promise<CancelOutcome> {
    const enc = encodeId(externalId);
    if (spec.ambiguousCancel && spec.status) {
      const before = await status(externalId);
      if (before.kind === 'status' && before.status.phase === 'finished') return { kind: 'already_finished', status: before.status };
      // Running, or the read failed: send the cancel (its answer is then almost always ours).
    }
    let res: HttpAnswer;
    try {
      res = await call(spec.cancel.method, spec.cancel.path(enc));
    } catch (err) {
      return callFault(err);
    }
    if (res.status >= 200 && res.status < 300) {
      const s = spec.parse(res.json);
      if (s) return fromStatus(s, true);
      if (!spec.status) return { kind: 'invalid_response', error: `unexpected cancel body: ${truncate(res.text, 120)}` };
      const st = await status(externalId);
      return st.kind === 'status' ? fromStatus(st.status, true) : { kind: 'invalid_response', error: `unexpected cancel body: ${truncate(res.text, 120)}` };
    }
    if (res.status >= 400 && res.status < 500 && res.status !== 429 && res.status !== 401 && res.status !== 403) {
      // Any other 4xx: ask what state it is in before calling this a failure.
      if (spec.status) {
        const st = await status(externalId);
        if (st.kind === 'status') {
          if (st.status.phase === 'finished') return { kind: 'already_finished', status: st.status };
          if (st.status.phase === 'cancelling') return { kind: 'cancel_pending', status: st.status };
        } else if (st.kind === 'not_found' || res.status === 404) return { kind: 'not_found', httpStatus: 404 };
      } else if (spec.alreadyFinishedStatuses?.includes(res.status)) {
        return { kind: 'already_finished', status: { phase: 'finished', raw: `HTTP ${res.status}` } };
      }
    }
    return fault(res);
  }

  return { id: spec.id, hasStatus: spec.status !== undefined, cancel, status };
}
