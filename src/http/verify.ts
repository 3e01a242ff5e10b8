/**
 * Signature checks for every inbound route, all constant-time and all over the raw body:
 *  - Slack v0: HMAC-SHA256 over "v0:{ts}:{body}", 5-minute window.
 *  - Discord: Ed25519 over "{timestamp}{body}" with the application's public key.
 *  - Teams: "Authorization: HMAC <base64 HMAC-SHA256(body)>" keyed by the base64 security token.
 *  - Watchdog v2 (hooks, tracking API): see security/signing.ts.
 */
import { createHmac, createPublicKey, verify as edVerify } from 'node:crypto';
import { freshTimestamp, safeEqual, shellQuote } from '../security/signing.js';

export function slackSignature(secret: string, ts: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
}

/** Headers of a signed Slack request (what Slack sends): for the demo, `watchdog sign` and benchmarks. */
export function slackSignedHeaders(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000));
  return { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(secret, ts, body) };
}

/** A ready `curl` for a signed Slack request to `url` (valid for the 5-minute window). */
export function slackCurl(url: string, secret: string, body: string, nowMs = Date.now()): string {
  const h = slackSignedHeaders(secret, body, nowMs);
  return `curl -s ${shellQuote(url)} ${Object.entries(h)
    .map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)}`)
    .join(' ')} --data ${shellQuote(body)}`;
}

export function verifySlack(secret: string, headers: Record<string, string | undefined>, body: string, nowMs = Date.now()): boolean {
  const ts = headers['x-slack-request-timestamp'];
  const sig = headers['x-slack-signature'];
  if (!sig || !freshTimestamp(ts, nowMs)) return false;
  return safeEqual(slackSignature(secret, ts as string, body), sig);
}

// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows.
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

export function verifyDiscord(publicKeyHex: string, headers: Record<string, string | undefined>, body: string, nowMs = Date.now()): boolean {
  const sig = headers['x-signature-ed25519'];
  const ts = headers['x-signature-timestamp'];
  if (!sig || !/^[0-9a-f]{128}$/i.test(sig) || !freshTimestamp(ts, nowMs) || !/^[0-9a-f]{64}$/i.test(publicKeyHex)) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
    return edVerify(null, Buffer.from(`${ts}${body}`), key, Buffer.from(sig, 'hex'));
  } catch {
    return false;
  }
}

export function teamsSignature(securityTokenB64: string, body: string): string {
  return `HMAC ${createHmac('sha256', Buffer.from(securityTokenB64, 'base64')).update(body, 'utf8').digest('base64')}`;
}

export function verifyTeams(securityTokenB64: string, headers: Record<string, string | undefined>, body: string): boolean {
  const auth = headers.authorization;
  if (!auth?.startsWith('HMAC ')) return false;
  return safeEqual(teamsSignature(securityTokenB64, body), auth);
}
