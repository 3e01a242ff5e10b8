/** The tracking API (/v1/executions…): v2-signed, or a bearer key scoped to connections and labels. */
import * as z from 'zod';
import { FinishRequest } from '../../app/service.js';
import { FULL_SCOPE, type Scope } from '../../config/load.js';
import { type Execution, publicView } from '../../core/model.js';
import { ConflictError, DependencyError, InputError, NotFoundError, WatchdogError } from '../../errors.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, safeEqual } from '../../security/signing.js';
import { type Handled, type HttpRequest, json, refusal } from '../types.js';
import { v2Verified } from './hooks.js';
import { type RouteContext, invalid, notFound, parseJson, replayRefused, unauthorized } from './shared.js';

/**
 * The scope of the bearer key presented, if it is one of ours. Every key is read at once (a
 * slow Secrets Manager costs one wait, not one per key) and compared in constant time. A key
 * that could not be read makes a non-match undecidable: DependencyError (503), never 401.
 */
async function bearerScope(c: RouteContext, req: HttpRequest): Promise<Scope | undefined> {
  const auth = req.headers.authorization;
  if (c.config.apiKeys.length === 0 || !auth?.startsWith('Bearer ')) return undefined;
  const read = await Promise.allSettled(c.config.apiKeys.map((k) => c.secret(k.secret, 'apiKey')));
  let match: Scope | undefined;
  let unreadable: unknown;
  read.forEach((r, i) => {
    if (r.status === 'rejected') unreadable ??= r.reason;
    else if (safeEqual(`Bearer ${r.value}`, auth) && match === undefined) match = c.config.apiKeys[i]!.scope;
  });
  if (match === undefined && unreadable !== undefined) throw unreadable instanceof Error ? unreadable : new DependencyError('an API key could not be read');
  return match;
}

export async function tracking(c: RouteContext, req: HttpRequest): Promise<Handled> {
  if (!c.config.hooks && c.config.apiKeys.length === 0) return notFound();
  // Only the scheme the request uses is checked: one secret read, not two in a row.
  const signed = req.headers[SIGNATURE_HEADER] !== undefined && (await v2Verified(c, req));
  const scope = signed ? FULL_SCOPE : await bearerScope(c, req);
  if (!scope) return unauthorized();
  const wd = c.runtime.watchdog;
  const actor = { id: 'api', via: 'api' };
  const m = /^\/v1\/executions(?:\/([^/]+)(?:\/(heartbeat|finish))?)?\/?$/.exec(req.path);
  if (!m) return notFound();
  const [, rawId, verb] = m;
  let id: string | undefined;
  try {
    id = rawId === undefined ? undefined : decodeURIComponent(rawId);
  } catch {
    return invalid('invalid execution id encoding');
  }
  // A signed write is accepted once. Heartbeats are not recorded: they are liveness, a copy
  // changes no state and cannot move progress back, and a nonce write would double their cost.
  const replayed = async () => signed && req.method === 'POST' && verb !== 'heartbeat' && !(await c.firstSeen(`v2:${req.headers[SIGNATURE_HEADER] ?? ''}`));
  try {
    if (id === undefined) {
      if (req.method !== 'POST') return { response: refusal(405, 'method_not_allowed', 'method not allowed') };
      const body = parseJson(req.body, z.unknown());
      if ('error' in body) return invalid(body.error);
      if (await replayed()) return replayRefused();
      const { created, execution } = await wd.track(body.value, actor, scope);
      return { response: json(created ? 201 : 200, { created, execution: publicView(execution) }) };
    }
    if (verb === undefined) {
      if (req.method !== 'GET') return { response: refusal(405, 'method_not_allowed', 'method not allowed') };
      const { execution, events } = await wd.show(id, scope);
      return { response: json(200, { execution: publicView(execution), events }) };
    }
    if (req.method !== 'POST') return { response: refusal(405, 'method_not_allowed', 'method not allowed') };
    if (verb === 'heartbeat') {
      const body = parseJson(req.body || '{}', z.unknown());
      if ('error' in body) return invalid(body.error);
      // A v2-signed heartbeat is ordered by its signed timestamp; any heartbeat by its `seq`.
      const sentAt = signed ? Number(req.headers[TIMESTAMP_HEADER]) * 1000 : undefined;
      const e = await wd.heartbeat(id, body.value, scope, sentAt);
      return { response: json(200, { execution: publicView(e) }), ...(await actOnReportedBreach(c, e)) };
    }
    const body = parseJson(req.body || '{}', FinishRequest);
    if ('error' in body) return invalid(body.error);
    if (await replayed()) return replayRefused();
    return { response: json(200, { execution: publicView(await wd.finish(id, actor, body.value.status, scope)) }) };
  } catch (err) {
    if (err instanceof NotFoundError) return { response: refusal(404, 'not_found', err.message) };
    if (err instanceof ConflictError) return { response: refusal(409, err.code, err.message, err.execution ? { execution: publicView(err.execution) } : {}) };
    if (err instanceof InputError || (err instanceof WatchdogError && err.name === 'ConfigError')) return invalid(err.message);
    throw err;
  }
}

/**
 * A heartbeat that reports a breach (its cost past the limit) makes the run due now; it is
 * also handed on at once, so the cancel does not wait for the sweep's next pass: to the
 * follow-up queue in Lambda (its consumer enforces it), after the answer locally. The one
 * claim protocol decides who cancels; the answer to the tracker never waits for it.
 */
async function actOnReportedBreach(c: RouteContext, e: Execution): Promise<{ background?: Promise<void> }> {
  if (!c.runtime.watchdog.enforceableBreach(e, c.now())) return {};
  try {
    if (c.followUps) {
      await c.followUps.send({ kind: 'enforce', v: 1, id: e.id });
      return {};
    }
  } catch (err) {
    // The run is due now: the sweep's next pass enforces it anyway.
    c.log.warn('could not hand a reported breach on; the sweep enforces it', { executionId: e.id, error: (err as Error).message });
    return {};
  }
  const background = c.runtime.watchdog.enforceNow(e.id).then(
    () => undefined,
    (err: unknown) =>
      c.log.warn('reported breach: enforcement failed; the sweep retries it', { executionId: e.id, error: (err as Error)?.message ?? String(err) }),
  );
  return { background };
}
