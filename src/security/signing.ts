/**
 * The watchdog's own HMAC scheme (v2), used for outgoing notifications and for the inbound
 * `/hooks/cancel` and tracking routes:
 *
 *   X-Watchdog-Timestamp: <unix seconds>
 *   X-Watchdog-Signature: v2=<hex HMAC-SHA256 of "v2\n<timestamp>\n<METHOD>\n<path?query>\n<raw body>">
 *
 * The signature binds the whole request: method, path with its query (as sent,
 * percent-encoding included; the query in URLSearchParams form), and body. A signed GET of
 * one execution cannot be replayed as a finish of another. Newlines separate the parts: none
 * of the first four can contain one, so no two requests share a signed string.
 * Verification is constant-time and refuses timestamps outside a 5-minute window. The older
 * v1 scheme (timestamp and body only) is refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-watchdog-timestamp';
export const SIGNATURE_HEADER = 'x-watchdog-signature';
export const WINDOW_SECONDS = 300;
/**
 * How far ahead of our clock a request's timestamp may be (clock skew). A request is fresh
 * from `FUTURE_SKEW_SECONDS` ahead to `WINDOW_SECONDS` behind, so a copy is fresh for at most
 * WINDOW + SKEW seconds after it first arrives: what the replay guard keeps its nonce for.
 */
export const FUTURE_SKEW_SECONDS = 60;
/** How long a request's identity is remembered against replays (ms). */
export const REPLAY_MEMORY_MS = (WINDOW_SECONDS + FUTURE_SKEW_SECONDS) * 1000;

/** What a v2 signature covers besides the timestamp. */
export interface SignedRequest {
  method: string;
  /** Path with optional query, e.g. `/v1/executions/wd_x/finish` or `/hooks/cancel?x=1`. */
  target: string;
  body: string;
}

/** The canonical form of a request target: the path as sent, the query re-serialised by URLSearchParams. */
export function canonicalTarget(path: string, query?: URLSearchParams): string {
  const q = query?.toString() ?? '';
  return q === '' ? path : `${path}?${q}`;
}

/** Canonical target of a URL or an absolute path (`/a/b?c=d`): what a signer should pass. */
export function targetOf(urlOrPath: string): string {
  const u = new URL(urlOrPath, 'http://signing.invalid');
  return canonicalTarget(u.pathname, u.searchParams);
}

export function signV2(secret: string, timestamp: number | string, req: SignedRequest): string {
  const text = `v2\n${timestamp}\n${req.method.toUpperCase()}\n${req.target}\n${req.body}`;
  return `v2=${createHmac('sha256', secret).update(text).digest('hex')}`;
}

export function signedHeaders(secret: string, req: SignedRequest, nowMs = Date.now()): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signV2(secret, ts, req) };
}

/** Constant-time comparison of two strings of possibly different length. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  // Compare equal-length buffers either way so timing does not reveal the length check.
  const same = ab.length === bb.length;
  return timingSafeEqual(same ? ab : bb, bb) && same;
}

/** True when the timestamp (unix seconds, as sent) is within the window of now. */
export function freshTimestamp(ts: string | undefined, nowMs = Date.now(), windowSec = WINDOW_SECONDS): boolean {
  if (ts === undefined || !/^\d{1,12}$/.test(ts)) return false;
  const age = Math.floor(nowMs / 1000) - Number(ts);
  return age <= windowSec && age >= -FUTURE_SKEW_SECONDS;
}

export function verifyV2(secret: string, headers: Record<string, string | undefined>, req: SignedRequest, nowMs = Date.now()): boolean {
  const timestamp = headers[TIMESTAMP_HEADER];
  const signature = headers[SIGNATURE_HEADER];
  if (signature === undefined || !freshTimestamp(timestamp, nowMs)) return false;
  return safeEqual(signV2(secret, timestamp as string, req), signature);
}

/** A string as one POSIX shell word: printed commands stay data when pasted, whatever they contain. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
