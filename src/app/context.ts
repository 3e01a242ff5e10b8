/** The one way a transition's context is built: the clock now, the execution's policy, the retention. */
import { type WatchdogConfig, policyFor } from '../config/load.js';
import type { Execution } from '../core/model.js';
import type { Policy } from '../core/policy.js';
import type { Ctx } from '../core/transitions.js';

export const ctxWith = (config: WatchdogConfig, policy: Policy, now: number): Ctx => ({ now, policy, retentionMs: config.settings.retentionMs });

/** `ctxOf(e)`: the context for a transition of `e`, read at call time (a retried write gets a fresh clock). */
export const contextFor =
  (config: WatchdogConfig, now: () => number) =>
  (e: Execution): Ctx =>
    ctxWith(config, policyFor(config, e), now());
