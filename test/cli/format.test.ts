/** The sweep summary as the CLI prints it: every count that is not zero, reschedules included. */
import { expect, it } from 'vitest';
import { sweepText } from '../../src/cli/format.js';
import type { SweepSummary } from '../../src/app/sweep.js';

const zero = Object.fromEntries(
  [
    'durationMs',
    'itemsRead',
    'due',
    'evaluated',
    'rescheduled',
    'observed',
    'finished',
    'warned',
    'wouldCancel',
    'cancelCalls',
    'cancelled',
    'alreadyFinished',
    'pending',
    'retried',
    'cancelFailed',
    'unconfirmed',
    'heldBackByCap',
    'deferredForTime',
    'lostRaces',
    'noticesSent',
    'noticesFailed',
    'faults',
    'quarantined',
    'errors',
    'indexRepairs',
  ].map((k) => [k, 0]),
);
const summary = (over: Partial<SweepSummary>): SweepSummary =>
  ({ ...zero, sweeper: 'o', startedAt: 0, preview: false, probes: [], dueLagMs: [], actions: [], ...over }) as SweepSummary;

it('a sweep that only rescheduled says so, not "nothing to do"', () => {
  expect(sweepText(summary({}), 'here')).toContain('nothing to do');
  const text = sweepText(summary({ due: 2, rescheduled: 2 }), 'here');
  expect(text).toContain('rescheduled (heartbeats moved the deadline) 2');
  expect(text).not.toContain('nothing to do');
});
