import { createHash } from 'node:crypto';

/**
 * The watchdog id of an execution: deterministic in (connection, externalId), so tracking
 * is idempotent and a chat user can type a short id. 60 bits of SHA-256, base32.
 */
export function executionId(connection: string, externalId: string): string {
  const digest = createHash('sha256').update(connection).update('\u0000').update(externalId).digest();
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  let id = '';
  let bits = 0n;
  for (let i = 0; i < 8; i++) bits = (bits << 8n) | BigInt(digest[i] ?? 0);
  for (let i = 0; i < 12; i++) {
    id += alphabet[Number(bits & 31n)];
    bits >>= 5n;
  }
  return `wd_${id}`;
}

/** Which due-index shard an execution lives in: stable, spreads writes. */
export function shardOf(id: string, shards: number): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (h >>> 0) % shards;
}
