/**
 * The one cancel algorithm all adapters share; each platform supplies a small spec
 * (paths, auth header, status mapping). After any 4xx on cancel the status is read
 * before deciding, so a run that had already finished is never reported as cancelled.
 */
import { HttpClient, type HttpAnswer, type HttpOptions, TransportError, encodeId, retryAfterMs } from './http.js';
import type { CancelOutcome, Fault, ListOutcome, ListedRun, ProviderAdapter, ProviderStatus, StatusOutcome } from './types.js';

/** How a platform lists its running executions (discovery), where its documentation describes one. */
export interface ListSpec {
  /** The path (with its query) of the first page (`cursor` undefined) or of the page `cursor` names. */
  path: (cursor: string | undefined) => string;
  /** The cursor is a link to the next page (absolute or relative): followed only within the base URL. */
  nextIsLink?: boolean;
  /** One page's body → its raw items and the next page's cursor; undefined when the body is not a list. */
  page: (body: unknown, cursor: string | undefined) => { items: unknown[]; next?: string } | undefined;
  /** One raw item → a run, 'not_running' (the platform ignored the filter), or undefined (unreadable: skipped). */
  item: (raw: unknown) => { id: unknown; raw?: unknown; startedAt?: unknown } | 'not_running' | undefined;
}

/** An external id from a platform's list: 1–1,024 characters (as a tracker's), no control characters. */
const validListedId = (id: string): boolean =>
  id.length >= 1 && id.length <= 1024 && ![...id].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);

/** A listed start time (ISO 8601 or epoch ms) → epoch ms; anything else is dropped. */
function listedStart(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

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
  /** The platform's list of running executions (discovery); absent where none is documented. */
  list?: ListSpec;
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
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/** Secrets Manager errors no retry fixes: a person must grant, create or fix the secret. */
const PERMANENT_SECRET_FAULTS = new Set(['AccessDeniedException', 'ResourceNotFoundException', 'DecryptionFailure', 'InvalidRequestException', 'ConfigError']);

const truncate = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function createAdapter(spec: AdapterSpec, baseUrl: string, creds: Credentials, http: HttpOptions = {}): ProviderAdapter {
  const client = new HttpClient(baseUrl, http);

  /** The key, or a CredentialsError: a secret that cannot be read is a fault of this call, never an escape. */
  async function key(read: () => Promise<string>): Promise<string> {
    try {
      return await read();
    } catch (err) {
      const name = (err as { name?: unknown })?.name;
      throw new CredentialsError(
        `cannot read the connection's secret: ${(err as Error).message?.split('\n')[0] ?? String(err)}`,
        typeof name === 'string' && PERMANENT_SECRET_FAULTS.has(name),
      );
    }
  }

  async function call(method: string, path: string): Promise<HttpAnswer> {
    let res = await client.request(method, path, spec.authHeaders(await key(() => creds.apiKey())));
    if (res.status === 401 || res.status === 403) {
      res = await client.request(method, path, spec.authHeaders(await key(() => creds.refresh())));
    }
    return res;
  }

  /** Faults of the call itself (transport, credentials) as answers. */
  function callFault(err: unknown): Fault {
    if (err instanceof TransportError) return { kind: 'transient', error: err.message };
    if (err instanceof CredentialsError) return { kind: 'no_credentials', error: err.message, ...(err.permanent ? { permanent: true } : {}) };
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
      // A platform that declares no status call: its 2xx is the only word there will be; the
      // cancel is taken as done (calling it invalid would retry — a second cancel — then fail).
      if (!spec.status) return { kind: 'cancelled' };
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

  /** One page of running executions; items that are not runs with a valid id are counted in `skipped`, never returned. */
  async function list(cursor: string | undefined): Promise<ListOutcome> {
    const ls = spec.list;
    if (!ls) return { kind: 'invalid_response', error: `${spec.id} documents no list of executions` };
    let path: string;
    if (cursor !== undefined && ls.nextIsLink) {
      const rel = client.relative(cursor);
      if (rel === undefined)
        return { kind: 'invalid_response', error: `next-page link outside the connection's base URL, not followed: ${truncate(cursor, 120)}` };
      path = rel;
    } else path = ls.path(cursor);
    let res: HttpAnswer;
    try {
      res = await call('GET', path);
    } catch (err) {
      return callFault(err);
    }
    if (res.status < 200 || res.status >= 300) return fault(res);
    const page = ls.page(res.json, cursor);
    if (!page) return { kind: 'invalid_response', error: `unexpected list body: ${truncate(res.text, 120)}` };
    const runs: ListedRun[] = [];
    let skipped = 0;
    for (const raw of page.items) {
      const it = ls.item(raw);
      if (it === 'not_running') continue;
      if (it === undefined || typeof it.id !== 'string' || !validListedId(it.id)) {
        skipped++;
        continue;
      }
      const run: ListedRun = { externalId: it.id };
      if (typeof it.raw === 'string') run.raw = it.raw.slice(0, 64);
      const started = listedStart(it.startedAt);
      if (started !== undefined) run.startedAt = started;
      runs.push(run);
    }
    const next = typeof page.next === 'string' && page.next !== '' && page.next !== cursor ? page.next : undefined;
    return { kind: 'page', runs, skipped, ...(next !== undefined ? { next } : {}) };
  }

  return { id: spec.id, hasStatus: spec.status !== undefined, cancel, status, ...(spec.list ? { list } : {}) };
}
