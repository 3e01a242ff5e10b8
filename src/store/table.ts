/**
 * The single-table layout, shared by the store, the local engines and the CDK stack.
 *
 *   execution  pk = "X#<id>"  sk = "X"            all Execution fields; GSI keys below
 *   audit      pk = "X#<id>"  sk = "E#<version>"  one AuditEvent per transition
 *   nonce      pk = "N#<hash>" sk = "N"           an accepted webhook request (store/replay.ts)
 *
 * GSI "due"     (dueShard S, dueAt N)     sparse: only live executions carry dueShard/dueAt.
 * GSI "byState" (state S, trackedAt N)    only executions carry state (events do not): listing.
 * TTL on expiresAt (epoch seconds), set on terminal executions and on events.
 */
export const TABLE = {
  pk: 'pk',
  sk: 'sk',
  dueIndex: 'due',
  dueShard: 'dueShard',
  dueAt: 'dueAt',
  stateIndex: 'byState',
  state: 'state',
  trackedAt: 'trackedAt',
  ttl: 'expiresAt',
} as const;

export const executionKey = (id: string) => ({ [TABLE.pk]: `X#${id}`, [TABLE.sk]: 'X' });
export const eventSortKey = (version: number) => `E#${String(version).padStart(10, '0')}`;
