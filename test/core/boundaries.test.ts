/**
 * Policy boundaries: each limit one millisecond before, exactly at, and one after its
 * deadline (and its warn time), with extensions and per-execution limits; and `evaluate`
 * agreeing with `describeLimits`, the two places that do the limit arithmetic.
 */
import { describe, expect, it } from 'vitest';
import { describeLimits, evaluate } from '../../src/core/policy.js';
import { HOUR, MIN, T0, execution, policy } from '../helpers/fixtures.js';

const cases = [
  { reason: 'runtime', p: policy({ maxRuntimeMs: HOUR }), e: execution(), deadline: T0 + HOUR, warn: T0 + 0.8 * HOUR },
  { reason: 'stall', p: policy({ stallAfterMs: 10 * MIN }), e: execution({ lastProgressAt: T0 + MIN }), deadline: T0 + 11 * MIN, warn: T0 + MIN + 8 * MIN },
  {
    reason: 'heartbeat',
    p: policy({ heartbeatTimeoutMs: 5 * MIN }),
    e: execution({ lastHeartbeatAt: T0 + 2 * MIN }),
    deadline: T0 + 7 * MIN,
    warn: T0 + 2 * MIN + 4 * MIN,
  },
  {
    reason: 'runtime (extended)',
    p: policy({ maxRuntimeMs: HOUR }),
    e: execution({ extensions: [{ ms: 30 * MIN, at: T0 + 10 * MIN, by: 'u' }] }),
    deadline: T0 + 90 * MIN,
    warn: T0 + 90 * MIN - 0.2 * 90 * MIN,
  },
  {
    reason: 'runtime (tighter per execution)',
    p: policy({ maxRuntimeMs: HOUR }),
    e: execution({ limits: { maxRuntimeMs: 30 * MIN } }),
    deadline: T0 + 30 * MIN,
    warn: T0 + 24 * MIN,
  },
  {
    reason: 'runtime (started before tracking)',
    p: policy({ maxRuntimeMs: HOUR }),
    e: execution({ startedAt: T0 - 10 * MIN }),
    deadline: T0 + 50 * MIN,
    warn: T0 + 50 * MIN - 12 * MIN,
  },
] as const;

describe.each(cases)('$reason', ({ p, e, deadline, warn }) => {
  it('1 ms before the warn time: nothing; due at the warn time', () => {
    const d = evaluate(e, p, warn - 1);
    expect(d).toMatchObject({ action: 'none', reasons: [], warnings: [] });
    expect(d.dueAt).toBe(warn);
  });
  it('at the warn time and until the deadline: warn, keyed by the deadline; due at the deadline', () => {
    for (const t of [warn, deadline - 1]) {
      const d = evaluate(e, p, t);
      expect(d.action).toBe('warn');
      expect(Object.values(d.warnKeys)).toEqual([deadline]);
      expect(d.dueAt).toBe(deadline);
    }
  });
  it('already warned for this deadline: no second warning', () => {
    const key = Object.keys(evaluate(e, p, warn).warnKeys)[0]!;
    const d = evaluate({ ...e, warned: { [key]: deadline } }, p, deadline - 1);
    expect(d.action).toBe('none');
    expect(d.dueAt).toBe(deadline);
  });
  it('exactly at the deadline and after: cancel, due now', () => {
    for (const t of [deadline, deadline + 1]) {
      const d = evaluate(e, p, t);
      expect(d.action).toBe('cancel');
      expect(d.reasons).toHaveLength(1);
      expect(d.dueAt).toBe(t);
    }
  });
  it('describeLimits agrees: the same deadline, used = now − reference', () => {
    const l = describeLimits(e, p, warn);
    expect(l).toHaveLength(1);
    expect(l[0]!.deadline).toBe(deadline);
    expect(l[0]!.used + (deadline - warn)).toBe(l[0]!.limit);
  });
});

describe('cost', () => {
  const p = policy({ maxCostUsd: 10 });
  it.each([
    [7.99, 'none'],
    [8, 'warn'],
    [9.99, 'warn'],
    [10, 'cancel'],
    [10.01, 'cancel'],
  ] as const)('reported $%d of $10 → %s', (cost, action) => {
    expect(evaluate(execution({ costUsd: cost }), p, T0 + MIN).action).toBe(action);
  });
  it('an hourly estimate: breach predicted, due at the warn time then the deadline', () => {
    const rate = policy({ maxCostUsd: 10, costPerHourUsd: 5 }); // $10 after 2h, warn at $8 (1.6h)
    expect(evaluate(execution(), rate, T0 + HOUR).dueAt).toBe(T0 + 1.6 * HOUR);
    expect(evaluate(execution(), rate, T0 + 1.6 * HOUR).action).toBe('warn');
    expect(evaluate(execution({ warned: { cost: 10 } }), rate, T0 + 1.7 * HOUR).dueAt).toBe(T0 + 2 * HOUR);
    expect(evaluate(execution(), rate, T0 + 2 * HOUR).action).toBe('cancel');
    expect(describeLimits(execution(), rate, T0 + HOUR)).toEqual([{ reason: 'cost', limit: 10, used: 5 }]);
  });
  it('no cost known and no rate: never a cost decision; rechecked later', () => {
    const d = evaluate(execution(), p, T0 + 10 * HOUR);
    expect(d.action).toBe('none');
    expect(d.dueAt).toBe(T0 + 10 * HOUR + p.recheckAfterMs);
  });
});

describe('several limits', () => {
  it('every breached limit is a reason; the earliest deadline is due; dry-run is carried', () => {
    const p = policy({ maxRuntimeMs: HOUR, heartbeatTimeoutMs: 10 * MIN, mode: 'dry-run' });
    const d = evaluate(execution(), p, T0 + HOUR);
    expect(d).toMatchObject({ action: 'cancel', reasons: ['runtime', 'heartbeat'], dryRun: true });
    expect(evaluate(execution({ lastHeartbeatAt: T0 + 50 * MIN }), p, T0 + 51 * MIN).dueAt).toBe(T0 + 50 * MIN + 8 * MIN);
  });
  it('an extension grants grace against stall and heartbeat until it runs out', () => {
    const p = policy({ stallAfterMs: 10 * MIN });
    const e = execution({ extensions: [{ ms: 30 * MIN, at: T0 + 5 * MIN, by: 'u' }] });
    expect(evaluate(e, p, T0 + 34 * MIN).action).not.toBe('cancel');
    expect(evaluate(e, p, T0 + 35 * MIN).action).toBe('cancel');
  });
});
