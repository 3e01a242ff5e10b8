/**
 * The sweeper that stays awake: one invocation sweeps every `tick` until shortly before the
 * next one is scheduled, so a breach waits for the next pass (a tick), not for the next
 * minute. Each pass is an ordinary sweep (due → observe → decide → act) with its own
 * deadline inside the invocation's; the claim protocol keeps two overlapping invocations to
 * one cancel per decision. EventBridge and Scheduler are minute-granular: this is how the
 * deployed shape gets to seconds (docs/sweep.md "Enforcement latency").
 */
import type { SweepSummary, Sweeper } from './sweep.js';

export interface LoopOptions {
  sweeper: Pick<Sweeper, 'run'>;
  /** Time between the starts of two passes. */
  tickMs: number;
  /** When this invocation must be done (absolute ms): the next one's start less a margin. */
  endAt: number;
  /** Lambda's remaining time; passes also stop `reserveMs` before it runs out. */
  remainingMs?: () => number;
  reserveMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** After each pass (metrics, logs). */
  onPass?: (s: SweepSummary, pass: number) => void | Promise<void>;
  /** Stop before the next pass (the local runner's Ctrl-C). */
  stopped?: () => boolean;
}

/**
 * How long before the next scheduled invocation this one stops starting passes: small, so a
 * breach in the gap between two invocations waits little more than a tick (the bound is p99
 * ≤ 5 s); an overlap that happens anyway is safe (the claim protocol).
 */
export function loopMarginMs(scheduleMs: number): number {
  return Math.min(1_500, scheduleMs / 10);
}

/** Sweep pass after pass until `endAt`; resolves with the number of passes. */
export async function sweepLoop(o: LoopOptions): Promise<number> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const reserve = o.reserveMs ?? 30_000;
  let passes = 0;
  for (;;) {
    const started = now();
    if (o.stopped?.()) return passes;
    if (passes > 0 && (started >= o.endAt || (o.remainingMs !== undefined && o.remainingMs() < reserve))) return passes;
    const s = await o.sweeper.run({
      ...(Number.isFinite(o.endAt) ? { deadlineAt: o.endAt } : {}),
      ...(o.remainingMs ? { remainingMs: o.remainingMs } : {}),
      reserveMs: reserve,
    });
    passes++;
    await o.onPass?.(s, passes);
    const next = started + o.tickMs;
    if (next >= o.endAt) return passes;
    const wait = next - now();
    if (wait > 0) await sleep(wait);
  }
}
