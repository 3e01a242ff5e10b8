import { describe, expect, it } from 'vitest';
import { canExtend, evaluate, looseningErrors } from '../../src/core/policy.js';
import { applyHeartbeat, extend, recordWarning } from '../../src/core/transitions.js';
import { HOUR, MIN, T0, execution, policy } from '../helpers/fixtures.js';

const actor = { id: 'test', via: 'test' };

describe('evaluate: table of cases', () => {
  const cases: Array<{
    name: string;
    e: Parameters<typeof execution>[0];
    p: Parameters<typeof policy>[0];
    now: number;
    action: string;
    reasons?: string[];
    warnings?: string[];
    dueAt?: number;
  }> = [
    { name: 'well within runtime: next due is the warn time', e: {}, p: { maxRuntimeMs: HOUR }, now: T0 + 10 * MIN, action: 'none', dueAt: T0 + 48 * MIN },
    { name: 'past warnAt: warn about runtime', e: {}, p: { maxRuntimeMs: HOUR }, now: T0 + 50 * MIN, action: 'warn', warnings: ['runtime'], dueAt: T0 + HOUR },
    {
      name: 'already warned for this deadline: no second warning',
      e: { warned: { runtime: T0 + HOUR } },
      p: { maxRuntimeMs: HOUR },
      now: T0 + 50 * MIN,
      action: 'none',
      dueAt: T0 + HOUR,
    },
    { name: 'runtime reached: cancel', e: {}, p: { maxRuntimeMs: HOUR }, now: T0 + HOUR, action: 'cancel', reasons: ['runtime'], dueAt: T0 + HOUR },
    {
      name: 'start in the future (clock skew): counted from tracking',
      e: { startedAt: T0 + 5 * HOUR },
      p: { maxRuntimeMs: HOUR },
      now: T0 + HOUR + 1,
      action: 'cancel',
      reasons: ['runtime'],
    },
    {
      name: 'no progress ever reported: stall counts from start',
      e: {},
      p: { stallAfterMs: 20 * MIN },
      now: T0 + 20 * MIN,
      action: 'cancel',
      reasons: ['stall'],
    },
    {
      name: 'recent progress keeps stall away',
      e: { lastProgressAt: T0 + 30 * MIN },
      p: { stallAfterMs: 20 * MIN },
      now: T0 + 40 * MIN,
      action: 'none',
      dueAt: T0 + 46 * MIN,
    },
    {
      name: 'heartbeat lost',
      e: { lastHeartbeatAt: T0 + 5 * MIN },
      p: { heartbeatTimeoutMs: 10 * MIN },
      now: T0 + 15 * MIN,
      action: 'cancel',
      reasons: ['heartbeat'],
    },
    { name: 'reported cost over the limit', e: { costUsd: 51 }, p: { maxCostUsd: 50 }, now: T0 + MIN, action: 'cancel', reasons: ['cost'] },
    { name: 'reported cost near the limit: warn once', e: { costUsd: 41 }, p: { maxCostUsd: 50 }, now: T0 + MIN, action: 'warn', warnings: ['cost'] },
    { name: 'cost warned already: quiet', e: { costUsd: 41, warned: { cost: 50 } }, p: { maxCostUsd: 50 }, now: T0 + MIN, action: 'none' },
    {
      name: 'estimated cost (per hour × elapsed) over the limit',
      e: {},
      p: { maxCostUsd: 10, costPerHourUsd: 12 },
      now: T0 + 51 * MIN,
      action: 'cancel',
      reasons: ['cost'],
    },
    { name: 'estimated cost predicts its own deadline', e: {}, p: { maxCostUsd: 12, costPerHourUsd: 12 }, now: T0, action: 'none', dueAt: T0 + 48 * MIN },
    { name: 'reported cost wins over the estimate', e: { costUsd: 1 }, p: { maxCostUsd: 10, costPerHourUsd: 12 }, now: T0 + 2 * HOUR, action: 'none' },
    { name: 'cost-only policy, nothing reported: recheck later', e: {}, p: { maxCostUsd: 10 }, now: T0, action: 'none', dueAt: T0 + HOUR },
    {
      name: 'several limits at once: every reason, one action',
      e: { costUsd: 99, lastHeartbeatAt: T0 },
      p: { maxRuntimeMs: HOUR, heartbeatTimeoutMs: 10 * MIN, stallAfterMs: 30 * MIN, maxCostUsd: 50 },
      now: T0 + 2 * HOUR,
      action: 'cancel',
      reasons: ['runtime', 'stall', 'heartbeat', 'cost'],
    },
    {
      name: 'per-execution limit tightens the policy',
      e: { limits: { maxRuntimeMs: 10 * MIN } },
      p: { maxRuntimeMs: HOUR },
      now: T0 + 10 * MIN,
      action: 'cancel',
      reasons: ['runtime'],
    },
    {
      name: 'extension moves the runtime deadline',
      e: { extensions: [{ ms: 30 * MIN, at: T0 + 50 * MIN, by: 'u' }] },
      p: { maxRuntimeMs: HOUR },
      now: T0 + 70 * MIN,
      action: 'none',
      dueAt: T0 + 72 * MIN,
    },
    {
      name: 'extension grants grace against a stall',
      e: { extensions: [{ ms: 30 * MIN, at: T0 + 25 * MIN, by: 'u' }] },
      p: { stallAfterMs: 20 * MIN },
      now: T0 + 40 * MIN,
      action: 'none',
    },
    {
      name: 'extension never extends cost',
      e: { costUsd: 60, extensions: [{ ms: HOUR, at: T0, by: 'u' }] },
      p: { maxCostUsd: 50 },
      now: T0 + MIN,
      action: 'cancel',
      reasons: ['cost'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const d = evaluate(execution(c.e), policy(c.p), c.now);
      expect(d.action).toBe(c.action);
      if (c.reasons) expect(d.reasons).toEqual(c.reasons);
      if (c.warnings) expect(d.warnings).toEqual(c.warnings);
      if (c.dueAt !== undefined) expect(d.dueAt).toBe(c.dueAt);
      expect(d.dueAt).toBeGreaterThanOrEqual(c.now);
    });
  }

  it('dry-run policies decide the same but say so', () => {
    const d = evaluate(execution(), policy({ maxRuntimeMs: HOUR, mode: 'dry-run' }), T0 + 2 * HOUR);
    expect(d).toMatchObject({ action: 'cancel', dryRun: true });
  });
});

describe('progress and stalls', () => {
  const p = policy({ stallAfterMs: 20 * MIN });
  const ctx = (now: number) => ({ now, policy: p, retentionMs: HOUR });

  it('the same progress repeated is a stall', () => {
    let e = execution();
    const hb = (done: number, now: number) => {
      const t = applyHeartbeat(e, { progress: { done, total: 100 } }, ctx(now));
      if (!t.ok) throw new Error('refused');
      e = t.execution;
    };
    hb(10, T0 + MIN);
    for (let m = 2; m <= 25; m++) hb(10, T0 + m * MIN);
    expect(e.lastProgressAt).toBe(T0 + MIN);
    expect(evaluate(e, p, T0 + 21 * MIN).reasons).toEqual(['stall']);
  });

  it('progress going backwards does not reset the stall clock', () => {
    let e = execution();
    for (const [done, at] of [
      [50, 1],
      [20, 5],
      [40, 10],
    ] as const) {
      const t = applyHeartbeat(e, { progress: { pct: done } }, ctx(T0 + at * MIN));
      if (!t.ok) throw new Error('refused');
      e = t.execution;
    }
    expect(e.lastProgressAt).toBe(T0 + MIN);
    // Progress keeps its high-water mark: a lower report is neither shown nor progress.
    expect(e.progress).toEqual({ done: 50, total: 100 });
    expect(evaluate(e, p, T0 + 21 * MIN).action).toBe('cancel');
  });

  it('forward progress resets the stall clock and recomputes dueAt', () => {
    const t = applyHeartbeat(execution({ progressHighWater: 10 }), { progress: { done: 11 } }, ctx(T0 + 15 * MIN));
    expect(t.ok && t.execution.lastProgressAt).toBe(T0 + 15 * MIN);
    expect(t.ok && t.execution.dueAt).toBe(T0 + 15 * MIN + 16 * MIN);
  });

  it('a heartbeat reporting cost over the limit makes the execution due now', () => {
    const pc = policy({ maxCostUsd: 5 });
    const t = applyHeartbeat(execution(), { costUsd: 7 }, { now: T0 + MIN, policy: pc, retentionMs: HOUR });
    expect(t.ok && t.execution.dueAt).toBe(T0 + MIN);
  });
});

describe('warnings and extensions', () => {
  it('warns once per limit, and again when an extension moves the deadline', () => {
    const p = policy({ maxRuntimeMs: HOUR });
    const ctx = (now: number) => ({ now, policy: p, retentionMs: HOUR });
    const d1 = evaluate(execution(), p, T0 + 50 * MIN);
    const w = recordWarning(execution(), d1.warnKeys, actor, ctx(T0 + 50 * MIN));
    if (!w.ok) throw new Error('refused');
    expect(w.execution.state).toBe('warned');
    expect(evaluate(w.execution, p, T0 + 55 * MIN).action).toBe('none');
    const x = extend(w.execution, 30 * MIN, actor, ctx(T0 + 55 * MIN));
    if (!x.ok) throw new Error('refused');
    expect(evaluate(x.execution, p, T0 + 80 * MIN).warnings).toEqual(['runtime']);
  });

  it('an extension at the ceiling is refused with the limit named', () => {
    const p = policy({ maxRuntimeMs: HOUR, maxExtensionMs: HOUR });
    const e = execution({ extensions: [{ ms: 45 * MIN, at: T0, by: 'u' }] });
    expect(canExtend(e, p, 15 * MIN)).toEqual({ ok: true });
    const r = canExtend(e, p, 16 * MIN);
    expect(r.ok).toBe(false);
    const t = extend(e, 16 * MIN, actor, { now: T0, policy: p, retentionMs: HOUR });
    expect(t.ok).toBe(false);
    expect(!t.ok && t.outcome === 'refused' && t.message).toMatch(/maxExtension 1h/);
  });
});

describe('looseningErrors', () => {
  it('accepts tighter limits and rejects looser ones, naming each', () => {
    const p = policy({ maxRuntimeMs: HOUR, maxCostUsd: 10 });
    expect(looseningErrors(p, { maxRuntimeMs: 30 * MIN, maxCostUsd: 10, stallAfterMs: MIN })).toEqual([]);
    const errs = looseningErrors(p, { maxRuntimeMs: 2 * HOUR, maxCostUsd: 11 });
    expect(errs).toHaveLength(2);
    expect(errs[0]).toMatch(/maxRuntime 2h is looser than policy "p" allows \(1h\)/);
    expect(errs[1]).toMatch(/maxCostUsd \$11/);
  });
});
