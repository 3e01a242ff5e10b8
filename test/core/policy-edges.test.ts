/** The policy engine's remaining edges: several limits competing for the due time, grace, cost estimates, refusals' texts. */
import { describe, expect, it } from 'vitest';
import { canExtend, currentCost, describeLimits, evaluate, looseningErrors } from '../../src/core/policy.js';
import { HOUR, MIN, T0, execution, policy } from '../helpers/fixtures.js';

describe('the due time is the earliest moment of any limit', () => {
  it('a later warn time of another limit does not push it back', () => {
    const p = policy({ maxRuntimeMs: 10 * MIN, heartbeatTimeoutMs: HOUR });
    expect(evaluate(execution(), p, T0).dueAt).toBe(T0 + 8 * MIN);
    expect(evaluate(execution(), policy({ heartbeatTimeoutMs: HOUR, maxRuntimeMs: 10 * MIN }), T0 + 9 * MIN)).toMatchObject({
      action: 'warn',
      dueAt: T0 + 10 * MIN,
    });
  });
  it('an hourly cost estimate later than a runtime deadline does not push it back; one earlier wins', () => {
    // $10/h against $5: breach at 30m, warned at 24m.
    expect(evaluate(execution(), policy({ maxRuntimeMs: 10 * MIN, maxCostUsd: 5, costPerHourUsd: 10 }), T0).dueAt).toBe(T0 + 8 * MIN);
    expect(evaluate(execution(), policy({ maxRuntimeMs: HOUR, maxCostUsd: 5, costPerHourUsd: 10 }), T0).dueAt).toBe(T0 + 24 * MIN);
  });
  it('the cost estimate: after its warn time (warning now) the next moment is the breach; once warned, too', () => {
    const p = policy({ maxCostUsd: 5, costPerHourUsd: 10 });
    expect(evaluate(execution(), p, T0 + 25 * MIN)).toMatchObject({ action: 'warn', warnings: ['cost'], dueAt: T0 + 30 * MIN });
    expect(evaluate(execution({ warned: { cost: 5 } }), p, T0 + 10 * MIN)).toMatchObject({ action: 'none', dueAt: T0 + 30 * MIN });
  });
  it('a reported cost replaces the estimate: no predicted breach, looked at again after recheckAfter', () => {
    const p = policy({ maxCostUsd: 5, costPerHourUsd: 10 });
    expect(evaluate(execution({ costUsd: 1 }), p, T0 + 10 * MIN)).toMatchObject({ action: 'none', dueAt: T0 + 70 * MIN, recheck: true });
    expect(currentCost(execution({ costUsd: 1 }), p, T0 + 10 * MIN)).toBe(1);
    expect(currentCost(execution(), p, T0 + 30 * MIN)).toBe(5);
    expect(currentCost(execution(), policy(), T0 + 30 * MIN)).toBeUndefined();
  });
  it('a cancel decision carries its reasons only', () => {
    expect(evaluate(execution(), policy({ maxRuntimeMs: HOUR, heartbeatTimeoutMs: 2 * HOUR }), T0 + HOUR)).toEqual({
      action: 'cancel',
      reasons: ['runtime'],
      warnings: [],
      warnKeys: {},
      dueAt: T0 + HOUR,
      recheck: false,
      dryRun: false,
    });
    expect(evaluate(execution(), policy({ maxRuntimeMs: 2 * HOUR }), T0 + HOUR).recheck).toBe(false);
  });
});

describe('grace after an extension', () => {
  // Two extensions: the grace lasts until the later end, whichever was granted first.
  const twice = execution({
    extensions: [
      { ms: HOUR, at: T0, by: 'a' },
      { ms: 10 * MIN, at: T0 + 30 * MIN, by: 'b' },
    ],
    lastHeartbeatAt: T0,
    lastProgressAt: T0,
  });
  it('holds heartbeat and stall deadlines back until the latest extension ends', () => {
    const p = policy({ heartbeatTimeoutMs: 20 * MIN, stallAfterMs: 20 * MIN });
    expect(evaluate(twice, p, T0 + 59 * MIN).action).not.toBe('cancel');
    expect(evaluate(twice, p, T0 + HOUR)).toMatchObject({ action: 'cancel', reasons: ['stall', 'heartbeat'] });
    expect(describeLimits(twice, p, T0 + 30 * MIN).map((l) => [l.reason, l.deadline])).toEqual([
      ['stall', T0 + HOUR],
      ['heartbeat', T0 + HOUR],
    ]);
  });
  it('a heartbeat deadline later than the grace is kept', () => {
    const p = policy({ heartbeatTimeoutMs: 20 * MIN });
    const e = execution({ extensions: [{ ms: 5 * MIN, at: T0, by: 'a' }], lastHeartbeatAt: T0 + 10 * MIN });
    expect(evaluate(e, p, T0 + 29 * MIN).action).not.toBe('cancel');
    expect(evaluate(e, p, T0 + 30 * MIN)).toMatchObject({ action: 'cancel', reasons: ['heartbeat'] });
  });
});

describe('describeLimits names each limit', () => {
  it('runtime, stall, heartbeat, cost in that order', () => {
    const p = policy({ maxRuntimeMs: HOUR, stallAfterMs: HOUR, heartbeatTimeoutMs: HOUR, maxCostUsd: 5 });
    expect(describeLimits(execution({ costUsd: 2 }), p, T0 + MIN).map((l) => [l.reason, l.limit, l.used])).toEqual([
      ['runtime', HOUR, MIN],
      ['stall', HOUR, MIN],
      ['heartbeat', HOUR, MIN],
      ['cost', 5, 2],
    ]);
  });
});

describe('refusals', () => {
  it('per-execution limits may only tighten, limit by limit; a limit the policy lacks is not a loosening', () => {
    const p = policy({ maxRuntimeMs: HOUR, maxCostUsd: 5 });
    expect(looseningErrors(p, { maxRuntimeMs: 2 * HOUR, maxCostUsd: 6, stallAfterMs: HOUR })).toEqual([
      'maxRuntime 2h is looser than policy "p" allows (1h); per-execution limits may only tighten',
      'maxCostUsd $6 is looser than policy "p" allows ($5); per-execution limits may only tighten',
    ]);
    expect(looseningErrors(p, { maxRuntimeMs: HOUR, maxCostUsd: 5 })).toEqual([]);
    expect(looseningErrors(p, {})).toEqual([]);
  });
  it('an extension must be positive and fit in maxExtension with the ones before it', () => {
    expect(canExtend(execution(), policy(), 0)).toEqual({ ok: false, message: 'extension must be positive' });
    const used = execution({ extensions: [{ ms: 30 * MIN, at: T0, by: 'a' }] });
    expect(canExtend(used, policy(), 90 * MIN)).toEqual({ ok: true });
    expect(canExtend(used, policy(), 100 * MIN)).toEqual({
      ok: false,
      message: 'extension refused: 2h10m in total would exceed maxExtension 2h of policy "p"',
    });
  });
});

describe('a discovered run has no tracker', () => {
  it('its heartbeat limit neither fires, warns nor sets the due time; its other limits do', () => {
    const p = policy({ maxRuntimeMs: 4 * HOUR, heartbeatTimeoutMs: 10 * MIN });
    const found = execution({ source: 'discovered' });
    expect(evaluate(found, p, T0 + 30 * MIN)).toMatchObject({ action: 'none', reasons: [], warnings: [], dueAt: T0 + 4 * HOUR * 0.8 });
    expect(evaluate(execution(), p, T0 + 30 * MIN)).toMatchObject({ action: 'cancel', reasons: ['heartbeat'] });
    expect(evaluate(found, p, T0 + 4 * HOUR)).toMatchObject({ action: 'cancel', reasons: ['runtime'] });
    expect(describeLimits(found, p, T0 + 30 * MIN).map((l) => l.reason)).toEqual(['runtime']);
    expect(describeLimits(execution(), p, T0 + 30 * MIN).map((l) => l.reason)).toEqual(['runtime', 'heartbeat']);
  });
});
