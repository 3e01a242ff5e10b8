/**
 * Every state × every event of the state machine, as a table: what each transition does in
 * each state (the resulting state) or which refusal it answers with. A wrong line in
 * transitions.ts changes a cell.
 */
import { describe, expect, it } from 'vitest';
import { type ExecutionState } from '../../src/core/model.js';
import * as T from '../../src/core/transitions.js';
import { HOUR, MIN, T0, execution, policy } from '../helpers/fixtures.js';

const actor = { id: 'person', via: 'test' };
const p = policy({ maxRuntimeMs: HOUR, maxSnoozeMs: 2 * HOUR });
const now = T0 + 2 * HOUR; // past maxRuntime: a cancel is due for live executions
const ctx = { now, policy: p, retentionMs: 30 * 24 * HOUR };

const inState = (state: ExecutionState) =>
  execution({
    state,
    ...(state === 'cancelling' ? { lease: { holder: 'holder', until: now + MIN }, attempts: 1, stopReasons: ['runtime'] as const } : {}),
    ...(state === 'cancel_requested' ? { stopReasons: ['manual'] as const, requestedBy: actor } : {}),
    ...(['cancelled', 'cancel_failed', 'cancel_unconfirmed', 'finished'].includes(state) ? { endedAt: T0 + HOUR } : {}),
  });

type Cell = ExecutionState | `refused:${string}`;
const cell = (t: T.Transition): Cell => (t.ok ? t.execution.state : `refused:${t.outcome}`);

const events: Record<string, (e: ReturnType<typeof execution>) => T.Transition> = {
  heartbeat: (e) => T.applyHeartbeat(e, { progress: { pct: 10 } }, ctx),
  finish: (e) => T.markFinished(e, actor, ctx, 'succeeded'),
  requestCancel: (e) => T.requestCancel(e, ['manual'], actor, ctx),
  claim: (e) => T.claimCancel(e, { holder: 'me', leaseMs: 2 * MIN, actor }, ctx),
  decideAndClaim: (e) => T.decideAndClaim(e, { holder: 'me', leaseMs: 2 * MIN, actor }, ctx),
  extend: (e) => T.extend(e, 30 * MIN, actor, ctx),
  snooze: (e) => T.snooze(e, HOUR, actor, ctx),
  warn: (e) => T.recordWarning(e, { runtime: T0 + HOUR }, actor, ctx),
  wouldCancel: (e) => T.recordWouldCancel(e, actor, ctx),
  outcome: (e) => T.recordOutcome(e, 'holder', { kind: 'cancelled' }, actor, ctx),
  fault: (e) => T.recordFault(e, { error: 'x', maxFaults: 3, retryAt: now + MIN }, actor, ctx),
};

// Aligned by hand, to be read as a table (prettier leaves it alone).
//                     heartbeat            finish               requestCancel                  claim                  decideAndClaim         extend                         snooze               warn                      wouldCancel               outcome                fault
// prettier-ignore
const TABLE: Record<ExecutionState, Cell[]> = {
  running:            ['running',           'finished',          'cancel_requested',            'cancelling',          'cancelling',          'running',                     'running',           'warned',                 'running',                'refused:lease_lost',  'running'],
  warned:             ['warned',            'finished',          'cancel_requested',            'cancelling',          'cancelling',          'warned',                      'warned',            'warned',                 'warned',                 'refused:lease_lost',  'warned'],
  cancel_requested:   ['cancel_requested',  'finished',          'refused:cancel_in_progress',  'cancelling',          'cancelling',          'running',                     'cancel_requested',  'refused:not_claimable',  'refused:not_claimable',  'refused:lease_lost',  'cancel_requested'],
  cancelling:         ['cancelling',        'finished',          'refused:cancel_in_progress',  'refused:lease_held',  'refused:lease_held',  'refused:cancel_in_progress',  'cancelling',        'refused:not_claimable',  'refused:not_claimable',  'cancelled',           'cancelling'],
  cancelled:          ['refused:terminal',  'refused:terminal',  'refused:terminal',            'refused:terminal',    'refused:terminal',    'refused:terminal',            'refused:terminal',  'refused:not_claimable',  'refused:not_claimable',  'refused:terminal',    'refused:terminal'],
  cancel_failed:      ['refused:terminal',  'refused:terminal',  'refused:terminal',            'refused:terminal',    'refused:terminal',    'refused:terminal',            'refused:terminal',  'refused:not_claimable',  'refused:not_claimable',  'refused:terminal',    'refused:terminal'],
  cancel_unconfirmed: ['refused:terminal',  'refused:terminal',  'refused:terminal',            'refused:terminal',    'refused:terminal',    'refused:terminal',            'refused:terminal',  'refused:not_claimable',  'refused:not_claimable',  'refused:terminal',    'refused:terminal'],
  finished:           ['refused:terminal',  'refused:terminal',  'refused:terminal',            'refused:terminal',    'refused:terminal',    'refused:terminal',            'refused:terminal',  'refused:not_claimable',  'refused:not_claimable',  'refused:terminal',    'refused:terminal'],
};

describe('every state × every event', () => {
  const names = Object.keys(events);
  for (const [state, row] of Object.entries(TABLE) as Array<[ExecutionState, Cell[]]>) {
    it.each(names.map((n, i) => [n, row[i]!] as const))(`${state} + %s → %s`, (name, expected) => {
      const before = inState(state);
      const t = events[name]!(before);
      expect(cell(t)).toBe(expected);
      if (t.ok) {
        expect(t.execution.version).toBe(before.version + 1);
        expect(t.execution.updatedAt).toBe(now);
        // Every change is audited, except a heartbeat: liveness is counted on the item.
        if (name === 'heartbeat') {
          expect(t.execution.pendingEvent).toEqual(before.pendingEvent);
          expect(t.execution.heartbeats).toBe((before.heartbeats ?? 0) + 1);
        } else expect(t.execution.pendingEvent).toMatchObject({ version: t.execution.version, at: now, to: t.execution.state });
        // A terminal result leaves the due index (unless notices wait) and gets its TTL.
        if (['cancelled', 'cancel_failed', 'cancel_unconfirmed', 'finished'].includes(t.execution.state)) {
          expect(t.execution.dueAt).toBeUndefined();
          expect(t.execution.expiresAt).toBe(Math.floor((now + ctx.retentionMs) / 1000));
          expect(t.execution.lease).toBeUndefined();
        }
      }
    });
  }
});
