import { evaluate } from '../src/core/policy.js';
import type { Execution } from '../src/core/model.js';
import type { Line } from './run.js';

/** Policy evaluations per second on one core, over a mix of states and limits. */
export async function benchPolicyEval(): Promise<Line[]> {
  const t0 = Date.UTC(2026, 0, 1);
  const policy = {
    name: 'p',
    maxRuntimeMs: 7_200_000,
    stallAfterMs: 1_200_000,
    heartbeatTimeoutMs: 600_000,
    maxCostUsd: 50,
    costPerHourUsd: 12,
    warnAt: 0.8,
    mode: 'enforce' as const,
    maxExtensionMs: 7_200_000,
    recheckAfterMs: 3_600_000,
  };
  const execs: Execution[] = Array.from({ length: 1024 }, (_, i) => ({
    id: `wd_${i}`,
    connection: 'c',
    provider: 'catalyzed',
    externalId: String(i),
    policy: 'p',
    labels: {},
    limits: i % 3 ? {} : { maxRuntimeMs: 3_600_000 },
    startedAt: t0 - (i % 97) * 60_000,
    trackedAt: t0 - (i % 97) * 60_000,
    lastHeartbeatAt: t0 - (i % 13) * 60_000,
    lastProgressAt: t0 - (i % 31) * 60_000,
    ...(i % 2 ? { costUsd: i % 60 } : {}),
    state: 'running',
    warned: i % 5 ? {} : { runtime: t0 },
    extensions: i % 7 ? [] : [{ ms: 600_000, at: t0, by: 'u' }],
    attempts: 0,
    version: 0,
    updatedAt: t0,
  }));
  let sink = 0;
  const run = (n: number): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += evaluate(execs[i & 1023]!, policy, t0 + (i & 255) * 1000).dueAt & 1;
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  run(200_000); // warm up the JIT
  const n = 3_000_000;
  const secs = run(n);
  return [{ name: 'policy_eval_per_sec', value: Math.round(n / secs), unit: 'evals/s', target: '>= 1000000', sink: sink % 2 }];
}
