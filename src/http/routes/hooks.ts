/** Signed hooks: POST /hooks/cancel, verified with the watchdog's own v2 signature (method, path, body). */
import * as z from 'zod';
import { InputError } from '../../errors.js';
import { SIGNATURE_HEADER, canonicalTarget, verifyV2 } from '../../security/signing.js';
import { runCommand } from '../commands.js';
import { type Handled, type HttpRequest, json } from '../types.js';
import { ALREADY, type RouteContext, invalid, notFound, parseJson, unauthorized } from './shared.js';
import { isTerminal } from '../../core/model.js';

const CancelHookBody = z.strictObject({
  id: z.string().min(1).max(1100),
  reason: z.string().max(500).optional(),
  actor: z.string().min(1).max(128).optional(),
});

export async function v2Verified(c: RouteContext, req: HttpRequest): Promise<boolean> {
  if (!c.config.hooks) return false;
  const secret = await c.secret(c.config.hooks.secret, 'signingSecret');
  if (req.headers[SIGNATURE_HEADER]?.startsWith('v1=')) c.log.warn('v1 signature refused: sign method, path and body (v2)', { route: req.path.slice(0, 80) });
  return verifyV2(secret, req.headers, { method: req.method, target: canonicalTarget(req.signedPath ?? req.path, req.query), body: req.body }, c.now());
}

export async function hookCancel(c: RouteContext, req: HttpRequest): Promise<Handled> {
  if (!c.config.hooks) return notFound();
  if (!(await v2Verified(c, req))) return unauthorized();
  const body = parseJson(req.body, CancelHookBody);
  if ('error' in body) return invalid(body.error);
  let id: string;
  try {
    id = c.runtime.watchdog.resolveId(body.value.id);
  } catch (err) {
    if (err instanceof InputError) return invalid(err.message);
    throw err;
  }
  if (!(await c.firstSeen(`v2:${req.headers[SIGNATURE_HEADER] ?? ''}`)))
    return { response: json(409, { ok: false, message: ALREADY, error: ALREADY, code: 'already_handled' }) };
  const r = await runCommand(
    c.runtime,
    { cmd: 'cancel', ref: id, ...(body.value.reason ? { reason: body.value.reason } : {}) },
    { tool: 'hook', userId: body.value.actor ?? 'hook' },
    { budgetMs: c.config.ackBudgetMs, log: c.log },
  );
  const e = await c.runtime.store.get(id).catch(() => undefined);
  if (!e) return { response: json(404, { ok: false, message: r.text, error: r.text, code: 'not_found' }) };
  const refused = r.ok ? {} : { error: r.text, code: isTerminal(e.state) ? 'execution_ended' : 'state_conflict' };
  return { response: json(r.ok ? 202 : 409, { ok: r.ok, message: r.text, ...refused, id: e.id, state: e.state }) };
}
