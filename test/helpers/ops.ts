/**
 * Single transitions written through the store, for tests that drive an execution by hand
 * (a dead sweep's claim, a lease race): `store.mutate` with the pure transition, at a given time.
 */
import { type WatchdogConfig, policyFor } from '../../src/config/load.js';
import type { Actor, Execution, HeartbeatInput } from '../../src/core/model.js';
import * as T from '../../src/core/transitions.js';
import type { ExecutionStore, WriteOutcome } from '../../src/store/types.js';

export function transitionsOn(store: ExecutionStore, config: WatchdogConfig) {
  const ctx = (e: Execution, now: number): T.Ctx => ({ now, policy: policyFor(config, e), retentionMs: config.settings.retentionMs });
  return {
    heartbeat: (id: string, input: HeartbeatInput, now: number): Promise<WriteOutcome> => store.mutate(id, (e) => T.applyHeartbeat(e, input, ctx(e, now))),
    markFinished: (id: string, actor: Actor, now: number, providerStatus?: string): Promise<WriteOutcome> =>
      store.mutate(id, (e) => T.markFinished(e, actor, ctx(e, now), providerStatus)),
    requestCancel: (id: string, reason: string | undefined, actor: Actor, now: number): Promise<WriteOutcome> =>
      store.mutate(id, (e) => T.requestCancel(e, ['manual'], actor, ctx(e, now), reason)),
    claimCancel: (id: string, input: T.ClaimInput, now: number): Promise<WriteOutcome> => store.mutate(id, (e) => T.claimCancel(e, input, ctx(e, now))),
    recordOutcome: (id: string, owner: string, result: T.CancelResult, actor: Actor, now: number): Promise<WriteOutcome> =>
      store.mutate(id, (e) => T.recordOutcome(e, owner, result, actor, ctx(e, now))),
  };
}
