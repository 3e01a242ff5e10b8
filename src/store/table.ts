/**
 * The single-table layout, shared by the store, the local engines, `watchdog doctor` and
 * the CDK construct (one definition: change it here, every one of them follows).
 *
 *   execution  pk = "X#<id>"  sk = "X"            all Execution fields; GSI keys below
 *   audit      pk = "X#<id>"  sk = "E#<version>"  one AuditEvent per transition
 *   nonce      pk = "N#<hash>" sk = "N"           an accepted webhook request (store/replay.ts)
 *
 * GSI "due"     (dueShard S, dueAt N)        keys only; sparse: only live executions carry dueShard/dueAt.
 * GSI "byState" (stateShard S, trackedAt N)  "<state>#<shard>": no partition key shared by the whole
 *                                            fleet; projects the keys plus what listings filter on.
 * TTL on expiresAt (epoch seconds), set on terminal executions and on events.
 *
 * Why so little in the indexes: an index entry is rewritten (and billed) only when an
 * attribute it holds changes. A heartbeat changes none of them, so it costs one item write
 * (docs/cost.md); readers fetch the full items for the keys an index gave them.
 */
export const TABLE = {
  pk: 'pk',
  sk: 'sk',
  dueIndex: 'due',
  dueShard: 'dueShard',
  dueAt: 'dueAt',
  stateIndex: 'byState',
  stateShard: 'stateShard',
  state: 'state',
  trackedAt: 'trackedAt',
  ttl: 'expiresAt',
} as const;

export type KeyType = 'S' | 'N';

export interface IndexDefinition {
  readonly name: string;
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey: { readonly name: string; readonly type: KeyType };
  readonly projection: 'KEYS_ONLY' | 'INCLUDE';
  /** With INCLUDE: the non-key attributes the index carries. */
  readonly include?: readonly string[];
}

export const TABLE_KEYS = {
  partitionKey: { name: TABLE.pk, type: 'S' },
  sortKey: { name: TABLE.sk, type: 'S' },
} as const;

export const INDEXES: readonly IndexDefinition[] = [
  {
    name: TABLE.dueIndex,
    partitionKey: { name: TABLE.dueShard, type: 'S' },
    sortKey: { name: TABLE.dueAt, type: 'N' },
    projection: 'KEYS_ONLY',
  },
  {
    name: TABLE.stateIndex,
    partitionKey: { name: TABLE.stateShard, type: 'S' },
    sortKey: { name: TABLE.trackedAt, type: 'N' },
    // Listing filters, all fixed at track time: the entry is rewritten only when the state changes.
    projection: 'INCLUDE',
    include: ['policy', 'connection', 'labels'],
  },
];

export const executionKey = (id: string) => ({ [TABLE.pk]: `X#${id}`, [TABLE.sk]: 'X' });
export const eventSortKey = (version: number) => `E#${String(version).padStart(10, '0')}`;
export const stateShardKey = (state: string, shard: number) => `${state}#${shard}`;
