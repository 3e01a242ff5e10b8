import type { AuditEvent, Execution, ExecutionState } from '../core/model.js';
import type { Refusal, Transition } from '../core/transitions.js';

/** A write that lost its condition, or a transition the current state refuses: an outcome, not an exception. */
export type WriteOutcome =
  { ok: true; execution: Execution } | Refusal | { ok: false; outcome: 'not_found' } | { ok: false; outcome: 'conflict'; execution: Execution };

export interface ListFilter {
  state?: ExecutionState;
  policy?: string;
  connection?: string;
  label?: { key: string; value: string };
  /** Max items to return (default 100). */
  limit?: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  cursor?: string;
}

/** An item the store cannot parse as an execution: kept, flagged, out of the due index. */
export interface QuarantinedItem {
  id: string;
  error: string;
  /** Epoch ms when it was quarantined (absent while only found, not yet flagged). */
  at?: number;
  connection?: string;
  externalId?: string;
  policy?: string;
}

export interface DueResult {
  items: Execution[];
  /** Due items that do not parse: the sweep quarantines them (never lets one stop it). */
  corrupt: QuarantinedItem[];
  /** Items DynamoDB read to answer (ScannedCount): the read amplification numerator. */
  itemsRead: number;
}

/**
 * Persistence for tracked executions. Every state change is a single-item conditional
 * write on (state, version); the pure transition functions in core decide what changes.
 */
export interface ExecutionStore {
  /** Create the execution unless (connection, externalId) is already tracked; then return the existing one. */
  track(execution: Execution): Promise<{ created: boolean; execution: Execution }>;
  get(id: string): Promise<Execution | undefined>;
  /** Which of these ids are tracked (any state), and whether by a tracker or by discovery: one batch read per 100. */
  known(ids: readonly string[]): Promise<Map<string, 'tracker' | 'discovered'>>;
  getWithEvents(id: string): Promise<{ execution: Execution; events: AuditEvent[] } | undefined>;
  list(filter?: ListFilter): Promise<Page<Execution>>;
  /** Live executions with dueAt <= now, across every shard. */
  due(now: number, opts?: { limit?: number }): Promise<DueResult>;
  /**
   * Flag an unparsable item: state `quarantined`, the reason kept, out of the due index, the
   * rest of the item untouched. False when it was already quarantined (or is gone).
   */
  quarantine(id: string, error: string, now: number): Promise<boolean>;
  /** Every quarantined item (`watchdog list --state quarantined`). */
  quarantined(): Promise<QuarantinedItem[]>;
  /**
   * The safety net's other path to work: ids of live executions whose dueAt is at or before
   * `before`, read (keys only) through the state index, not the due index. An index entry may
   * be stale: the caller confirms the ones it cares about with `get`.
   */
  overdue(before: number): Promise<string[]>;
  /** Whether the due index holds this execution's current entry. */
  inDueIndex(e: Execution): Promise<boolean>;

  /**
   * Every change: read (or use `current`), apply a pure transition (core/transitions.ts),
   * write conditionally on (state, version), retry on conflict. The store knows no operation.
   */
  mutate(id: string, fn: (current: Execution) => Transition, current?: Execution): Promise<WriteOutcome>;
}
