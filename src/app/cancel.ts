/**
 * The cancel protocol, one for the sweep and for people: claim → call → record → recover.
 *
 * Exactly one provider cancel per decision: every call is preceded by a conditional claim
 * (state + version) with a lease, so concurrent sweeps, a retried invocation and a chat cancel
 * cannot call the provider twice. A retry reads the provider's status first (an unanswered
 * attempt may have landed). An expired lease is recovered by a later sweep, status first.
 * Outcomes are recorded with their notices in the same write (see notices.ts).
 */
import type { WatchdogConfig } from '../config/load.js';
import type { Actor, Execution, StopReason } from '../core/model.js';
import { isTerminal } from '../core/model.js';
import * as T from '../core/transitions.js';
import { type Log, redact } from '../log.js';
import type { ExecutionStore, WriteOutcome } from '../store/types.js';
import type { ProviderCalls } from './calls.js';
import { contextFor } from './context.js';
import type { Notices } from './notices.js';
import { toCancelResult } from './outcome.js';
import type { ActionKind, Tally } from './summary.js';

export const SWEEP_VIA = 'sweep';

const RESULT_ACTION: Record<T.CancelResult['kind'], ActionKind> = {
  cancelled: 'cancelled',
  already_finished: 'already_finished',
  cancel_pending: 'cancel_pending',
  retry: 'retry',
  failed: 'cancel_failed',
  unconfirmed: 'cancel_unconfirmed',
};

export interface CancelDeps {
  config: WatchdogConfig;
  store: ExecutionStore;
  calls: ProviderCalls;
  notices: Notices;
  log: Log;
  now: () => number;
  /** Who holds the claims this protocol takes (a sweeper's id): leases and audit events carry it. */
  holder: string;
}

/**
 * How a claim attempt ended: the claim is ours (and the call made), someone else's, the
 * decision no longer holds, or time ran out while waiting for a provider slot (nothing claimed).
 */
export type ClaimOutcome = 'claimed' | 'lost_race' | 'not_claimable' | 'deferred';

/** When the caller's time is up (the sweep's deadline): checked after a provider slot is free, before claiming. */
export interface ClaimOptions {
  reasons: StopReason[];
  timeUp?: () => boolean;
  /** When the limit was crossed (a policy's cancel): the first request sent counts breach → cancel. */
  breachAt?: number;
}

export const policyActor = (e: Execution): Actor => ({ id: `policy:${e.policy}`, via: SWEEP_VIA });

/** Gives a provider slot back (idempotent). */
type Release = () => void;
const noop: Release = () => {};

export class CancelProtocol {
  private readonly ctx: (e: Execution) => T.Ctx;

  constructor(private readonly deps: CancelDeps) {
    this.ctx = contextFor(deps.config, deps.now);
  }

  get holder(): string {
    return this.deps.holder;
  }

  private get settings() {
    return this.deps.config.settings;
  }

  private write(cur: Execution, fn: (c: Execution) => T.Transition): Promise<WriteOutcome> {
    return this.deps.store.mutate(cur.id, fn, cur);
  }

  /**
   * Take a provider slot, then claim (the decision re-checked on the current item) and call
   * the provider within it: no claim ever waits in a queue while its lease runs. The slot is
   * given back as soon as the provider has answered; the outcome is written after. A person's
   * request is claimed in their name (the audit says who decided); a policy's in the policy's.
   */
  async claimAndCancel(e: Execution, tally: Tally, o: ClaimOptions): Promise<ClaimOutcome> {
    const release = await this.deps.calls.acquire(e.connection);
    try {
      if (o.timeUp?.()) return 'deferred';
      return await this.claimThenCancel(e, tally, o, release);
    } finally {
      release();
    }
  }

  private async claimThenCancel(e: Execution, tally: Tally, o: ClaimOptions, release: Release): Promise<ClaimOutcome> {
    const claimedFor = (c: Execution): Actor => (c.state === 'cancel_requested' && c.requestedBy ? c.requestedBy : policyActor(c));
    const claim = await this.deps.store.mutate(
      e.id,
      (c) => T.decideAndClaim(c, { holder: this.holder, leaseMs: this.settings.leaseMs, reasons: o.reasons, actor: claimedFor(c) }, this.ctx(c)),
      e,
    );
    if (!claim.ok) {
      if (claim.outcome !== 'not_claimable') {
        tally.record('lost_race', e, claim.outcome);
        return 'lost_race';
      }
      // The decision no longer holds (extended, or progress): just move it along.
      if ('execution' in claim && !isTerminal(claim.execution.state)) await this.write(claim.execution, (c) => T.reschedule(c, this.ctx(c)));
      return 'not_claimable';
    }
    // A retry: an earlier attempt may have landed even though no answer came back (a
    // timeout, a reset, a 5xx from a gateway). Ask first rather than cancel twice.
    const adapter = this.deps.calls.adapter(claim.execution.connection);
    const ask = claim.execution.attempts > 1 && 'cancel' in adapter && adapter.hasStatus;
    await (ask ? this.fromStatus(claim.execution, tally, release) : this.cancelClaimed(claim.execution, tally, false, release, o.breachAt));
    return 'claimed';
  }

  /**
   * `cancelling` came due: an expired lease (a sweep died after claiming) or a cancel the
   * provider accepted and we check on. Status first; cancel again only if still running.
   * Like a first claim, it takes its provider slot before claiming.
   */
  async recover(e: Execution, tally: Tally, timeUp?: () => boolean): Promise<ClaimOutcome> {
    const release = await this.deps.calls.acquire(e.connection);
    try {
      if (timeUp?.()) return 'deferred';
      return (await this.recoverClaimed(e, tally, release)) ? 'claimed' : 'lost_race';
    } finally {
      release();
    }
  }

  private async recoverClaimed(e: Execution, tally: Tally, release: Release): Promise<boolean> {
    const claim = await this.deps.store.mutate(
      e.id,
      (c) => T.claimCancel(c, { holder: this.holder, leaseMs: this.settings.leaseMs, actor: { id: this.holder, via: SWEEP_VIA } }, this.ctx(c)),
      e,
    );
    if (!claim.ok) {
      tally.record('lost_race', e, claim.outcome);
      return false;
    }
    await this.fromStatus(claim.execution, tally, release);
    return true;
  }

  /** The claim is ours (and its provider slot): call the provider's cancel and record what it said. */
  private async cancelClaimed(e: Execution, tally: Tally, resent: boolean, release: Release, breachAt?: number): Promise<void> {
    const adapter = this.deps.calls.adapter(e.connection);
    if (!('cancel' in adapter)) return this.finishClaim(e, tally, { kind: 'failed', error: adapter.error }, release);
    tally.count('cancelCalls');
    if (breachAt !== undefined) tally.summary.breachToCancelMs.push(Math.max(0, this.deps.now() - breachAt));
    const out = await adapter.cancel(e.externalId);
    const result = toCancelResult(out, {
      now: this.deps.now(),
      attempts: e.attempts,
      maxAttempts: this.settings.maxCancelAttempts,
      pendingCheckMs: this.pendingCheckMs(),
      resent,
    });
    return this.finishClaim(e, tally, result, release);
  }

  private pendingCheckMs(): number {
    return Math.max(1_000, Math.min(60_000, Math.round(this.settings.confirmWithinMs / 5)));
  }

  /** Record the outcome (and its notices) while the claim is still ours, then deliver. */
  private async finishClaim(e: Execution, tally: Tally, result: T.CancelResult, release: Release = noop): Promise<void> {
    // Every provider call of this claim is made: the slot goes to the next claim while the outcome is written.
    release();
    const r = await this.deps.store.mutate(
      e.id,
      (c) => {
        // The outcome is audited as the cancel's: the person (or policy) who asked for it, not the process that carried it out.
        const t = T.recordOutcome(c, this.holder, result, c.requestedBy ?? { id: this.holder, via: SWEEP_VIA }, this.ctx(c));
        return t.ok && isTerminal(t.execution.state) ? this.deps.notices.add(t, c, 'outcome') : t;
      },
      e,
    );
    if (!r.ok) {
      // Our lease expired mid-call and someone else took over: they own the outcome now.
      tally.record('lost_race', e, `outcome not recorded: ${r.outcome}`);
      this.deps.log.warn('cancel outcome not recorded (lease lost)', { executionId: e.id, connection: e.connection, result: result.kind });
      return;
    }
    const detail = 'error' in result ? redact(result.error) : 'providerStatus' in result ? result.providerStatus : undefined;
    tally.record(RESULT_ACTION[result.kind], e, detail);
    const level = result.kind === 'failed' || result.kind === 'unconfirmed' ? 'error' : 'info';
    this.deps.log[level](`cancel ${result.kind}`, {
      executionId: e.id,
      connection: e.connection,
      decision: 'cancel',
      result: result.kind,
      attempts: r.execution.attempts,
      ...(detail ? { detail } : {}),
    });
    await this.deps.notices.deliver(r.execution, tally);
  }

  /**
   * Holding the claim: read the provider's status, then decide whether to (re)send the
   * cancel. A platform without a status call can only be sent the cancel again.
   */
  private async fromStatus(cur: Execution, tally: Tally, release: Release): Promise<void> {
    const adapter = this.deps.calls.adapter(cur.connection);
    if (!('cancel' in adapter)) return this.finishClaim(cur, tally, { kind: 'failed', error: adapter.error }, release);
    // No status to read: send it again (such a platform's 2xx is the cancel done, never pending).
    if (!adapter.hasStatus) return this.cancelClaimed(cur, tally, false, release);
    const st = await adapter.status(cur.externalId); // within the slot its caller holds
    tally.count('observed');
    const now = this.deps.now();
    if (st.kind !== 'status') {
      const result = toCancelResult(st, { now, attempts: cur.attempts, maxAttempts: this.settings.maxCancelAttempts, pendingCheckMs: this.pendingCheckMs() });
      return this.finishClaim(cur, tally, result, release);
    }
    const status = st.status;
    if (status.phase === 'finished') {
      return this.finishClaim(
        cur,
        tally,
        status.result === 'cancelled' ? { kind: 'cancelled', providerStatus: status.raw } : { kind: 'already_finished', providerStatus: status.raw },
        release,
      );
    }
    if (cur.cancelAcceptedAt === undefined) {
      // An unanswered attempt that landed on an asynchronous platform: accepted after all.
      if (status.phase === 'cancelling')
        return this.finishClaim(cur, tally, { kind: 'cancel_pending', checkAt: now + this.pendingCheckMs(), providerStatus: status.raw }, release);
      return this.cancelClaimed(cur, tally, false, release); // never got an answer: send it
    }
    const confirm = this.settings.confirmWithinMs;
    const since = cur.cancelResentAt ?? cur.cancelAcceptedAt;
    if (now - since < confirm)
      return this.finishClaim(
        cur,
        tally,
        {
          kind: 'cancel_pending',
          checkAt: Math.min(now + this.pendingCheckMs(), since + confirm),
          providerStatus: status.raw,
        },
        release,
      );
    if (cur.cancelResentAt === undefined) {
      // Once more, marked first: a holder dying after the send leaves it recorded (no third send).
      const marked = await this.deps.store.mutate(cur.id, (c) => T.markResend(c, this.holder, this.ctx(c)), cur);
      if (!marked.ok) {
        tally.record('lost_race', cur, `re-send not recorded: ${marked.outcome}`);
        return;
      }
      return this.cancelClaimed(marked.execution, tally, true, release);
    }
    return this.finishClaim(
      cur,
      tally,
      {
        kind: 'unconfirmed',
        providerStatus: status.raw,
        error: `accepted ${Math.round((now - cur.cancelAcceptedAt) / 1000)}s ago and sent twice, still ${status.raw}`,
      },
      release,
    );
  }
}
