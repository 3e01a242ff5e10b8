/**
 * The watchdog's own HMAC scheme, used for outgoing notifications and for the inbound
 * `/hooks/cancel` and tracking routes:
 *   X-Watchdog-Timestamp: <unix seconds>
 *   X-Watchdog-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">
 * Verification is constant-time and rejects timestamps outside a 5-minute window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-watchdog-timestamp';
export const SIGNATURE_HEADER = 'x-watchdog-signature';
export const WINDOW_SECONDS = 300;

export function signV1(secret: string, timestamp: number | string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function signedHeaders(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signV1(secret, ts, body) };
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
  return Math.abs(Math.floor(nowMs / 1000) - Number(ts)) <= windowSec;
}

export function verifyV1(secret: string, timestamp: string | undefined, signature: string | undefined, body: string, nowMs = Date.now()): boolean {
  if (signature === undefined || !freshTimestamp(timestamp, nowMs)) return false;
  return safeEqual(signV1(secret, timestamp as string, body), signature);
}
