/** What every route shares: the context the handler gives it, the common answers, body parsing. */
import type * as z from 'zod';
import { formatIssues } from '../../config/load.js';
import { MAX_JSON_DEPTH, nestedDeeperThan, protoKeyPaths } from '../../core/own.js';
import type { Log } from '../../log.js';
import type { Runtime } from '../../runtime.js';
import { FUTURE_SKEW_SECONDS, REPLAY_MEMORY_MS, WINDOW_SECONDS } from '../../security/signing.js';

export { FUTURE_SKEW_SECONDS };
import type { Command } from '../commands.js';
import type { FollowUpQueue } from '../followup.js';
import { type Handled, type HttpResponse, json, refusal } from '../types.js';

/** The handler's side of a route: configuration, secrets, replay memory, the clock, outgoing posts. */
export interface RouteContext {
  runtime: Runtime;
  readonly config: Runtime['config']['webhook'];
  log: Log;
  now: () => number;
  /**
   * A secret's field. When it cannot be read (denied, missing, slow) this rejects with a
   * DependencyError: the request gets 503, never a 401 that reads as "you are refused".
   */
  secret(name: string, field: string): Promise<string>;
  /** True the first time this request identity is seen in the signature window. */
  firstSeen(identity: string): Promise<boolean>;
  postResponse(url: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  /** Lambda: where follow-ups go (they cannot run after the answer); absent, they run in this process. */
  followUps: FollowUpQueue | undefined;
}

export const unauthorized = (): Handled => ({ response: refusal(401, 'unauthorized', 'invalid signature') });
/** The watchdog's own dependency failed: retry (Retry-After), nothing was judged or changed. */
export const unavailable = (): Handled => ({
  response: refusal(503, 'unavailable', 'temporarily unavailable: the watchdog could not reach its own dependencies; retry', {}, { 'retry-after': '5' }),
});
export const notFound = (): Handled => ({ response: refusal(404, 'not_found', 'not found') });
export const invalid = (error: string): Handled => ({ response: refusal(400, 'invalid_request', error) });
export const replayRefused = (): Handled => ({ response: refusal(409, 'already_handled', ALREADY) });
export const slackReply = (text: string, visible = false): HttpResponse => json(200, { response_type: visible ? 'in_channel' : 'ephemeral', text });
/** An interaction's acknowledgment: 200 and nothing else (Slack displays none of it). */
export const EMPTY_ACK: HttpResponse = { status: 200, headers: {}, body: '' };

/** Only https response URLs on Slack's hosts are followed, or local stand-ins. */
export function allowedResponseUrl(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol === 'https:') return u.hostname === 'hooks.slack.com' || u.hostname.endsWith('.slack.com');
    return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost');
  } catch {
    return false;
  }
}

/** Chat commands that change something: each is recorded against replays. */
export const mutating = (c: Command): boolean => c.cmd === 'cancel' || c.cmd === 'extend' || c.cmd === 'snooze' || c.cmd === 'keep';
/** How long an accepted request's identity is kept against copies: the window plus the future skew (see signing.ts). */
export const REPLAY_WINDOW_MS = REPLAY_MEMORY_MS;
/** How old a request's own timestamp may be (Teams' activity timestamp; the signed ones check it in signing.ts). */
export const FRESH_WINDOW_MS = WINDOW_SECONDS * 1000;
export const ALREADY = 'This request was already handled; nothing changed.';

export function parseJson<T>(text: string, schema: z.ZodType<T>): { value: T } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: 'body is not valid JSON' };
  }
  // Refused before any walk: the checks below (and zod) recurse.
  if (nestedDeeperThan(raw, MAX_JSON_DEPTH)) return { error: `invalid body: nested deeper than ${MAX_JSON_DEPTH} levels` };
  const reserved = protoKeyPaths(raw);
  if (reserved.length > 0) return { error: `invalid body: ${reserved[0]}: "__proto__" is not allowed` };
  const r = schema.safeParse(raw);
  if (!r.success) return { error: `invalid body: ${formatIssues(r.error.issues, '(body)').join('; ')}` };
  return { value: r.data };
}
