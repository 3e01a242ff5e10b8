/**
 * The sweep: read what is due, observe, decide, act. One implementation for the scheduled
 * Lambda, `watchdog sweep`, the local runner and chat cancels (`cancelNow`).
 *
 * Exactly one provider cancel per decision: every cancel is preceded by a conditional
 * claim (state + version) with a lease, so concurrent sweeps, a retried invocation and a
 * chat cancel cannot call the provider twice. An expired lease is recovered by a later
 * sweep, status first. Notifications go through the execution's outbox (see core).
 */
import type { CompiledPolicy, WatchdogConfig } from '../config/load.js';
import { policyByName, policyFor } from '../config/load.js';
import type { Actor, Execution, Reason, StopReason } from '../core/model.js';
import { isTerminal } from '../core/model.js';
import { evaluate } from '../core/policy.js';
import * as T from '../core/transitions.js';
import { ConfigError } from '../errors.js';
import { type Log, redact, silentLog } from '../log.js';
import { alertMessage, renderNotice } from '../notify/render.js';
import type { NotifierLookup } from '../notify/registry.js';
import type { Message } from '../notify/types.js';
import type { ProviderAdapter, ProviderStatus } from '../providers/types.js';
import type { ExecutionStore, QuarantinedItem, WriteOutcome } from '../store/types.js';
import { Limiter, forEachLimit } from './limiter.js';
import { retryDelayMs, toCancelResult } from './outcome.js';
import { type ProbeReport, probe } from './probe.js';
import type { DiscoveryRecord, ProbeLedger } from '../store/probes.js';
import { Discovery } from './discovery.js';

export interface ProviderLookup {
  forConnection(connection: string): ProviderAdapter;
}

export interface SweepDeps {
  config: WatchdogConfig;
  store: ExecutionStore;
  providers: ProviderLookup;
  notifiers: NotifierLookup;
  log?: Log;
  now?: () => number;
  /** Identifies this sweeper in leases and audit events. */
  owner?: string;
  /** Where probes are claimed and recorded; without it, no probes run. */
  probes?: ProbeLedger;
}

export interface SweepOptions {
  /** Decide and report only: no writes, no provider calls, no notifications. */
  preview?: boolean;
  /** Remaining time of the invocation (Lambda context). */
  remainingMs?: () => number;
  /** Stop claiming new work when less than this remains. Default 30 s. */
  reserveMs?: number;
  /** Max due executions to read per sweep (default 10,000; the rest stays due). */
  limit?: number;
}

export type ActionKind =
  | 'finished'
  | 'warned'
  | 'would_cancel'
  | 'cancelled'
  | 'already_finished'
  | 'cancel_pending'
  | 'retry'
  | 'cancel_failed'
  | 'cancel_unconfirmed'
  | 'held_back'
  | 'deferred'
  | 'lost_race'
  | 'fault'
  | 'quarantined'
  | 'error';

export interface SweepAction {
  id: string;
  connection: string;
  externalId: string;
  action: ActionKind;
  detail?: string;
}

export interface SweepSummary {
  owner: string;
  startedAt: number;
  durationMs: number;
  preview: boolean;
  itemsRead: number;
  due: number;
  evaluated: number;
  /** Due by a deadline that heartbeats have since pushed back: looked at, moved on, no provider call (README "Cost"). */
  rescheduled: number;
  observed: number;
  finished: number;
  warned: number;
  wouldCancel: number;
  cancelCalls: number;
  cancelled: number;
  alreadyFinished: number;
  pending: number;
  retried: number;
  cancelFailed: number;
  unconfirmed: number;
  heldBackByCap: number;
  deferredForTime: number;
  lostRaces: number;
  noticesSent: number;
  noticesFailed: number;
  /** Faults of the watchdog itself, each recorded on its execution (backoff, then cancel_failed). */
  faults: number;
  /** Unparsable items flagged this sweep (kept, out of the due index, alerted once). */
  quarantined: number;
  /** Faults that could not even be recorded on their execution (the store failing): alarmed. */
  errors: number;
  /** Connections probed this sweep (see probe.ts). */
  probes: ProbeReport[];
  /** Runs nobody tracked, tracked this sweep by discovery (see discovery.ts). */
  discovered: number;
  /** Connections discovered on this sweep, one record each. */
  discoveries: DiscoveryRecord[];
  /** Overdue executions the due index did not hold, found by the safety net and re-indexed: should never happen in AWS. */
  indexRepairs: number;
  /** now − dueAt for each execution acted on (ms), sorted. */
  dueLagMs: number[];
  actions: SweepAction[];
}

export type CancelNowResult =
  | { status: 'done'; execution: Execution; settled: Promise<Execution> }
  /** Still running at the end of the budget: `settled` resolves when it is (or the sweep takes over). */
  | { status: 'in_progress'; execution: Execution; settled: Promise<Execution> };

const SWEEP_ACTOR_VIA = 'sweep';
/** The safety net's entry in the probe ledger (no connection name contains '#'). */
const SAFETY_NET = '#safety-net';
const SAFETY_NET_GRACE_MS = 60_000;
const RESULT_ACTION: Record<T.CancelResult['kind'], ActionKind> = {
  cancelled: 'cancelled',
  already_finished: 'already_finished',
  pending: 'cancel_pending',
  retry: 'retry',
  failed: 'cancel_failed',
  unconfirmed: 'cancel_unconfirmed',
};
const RESULT_COUNTER = {
  cancelled: 'cancelled',
  already_finished: 'alreadyFinished',
  pending: 'pending',
  retry: 'retried',
  failed: 'cancelFailed',
  unconfirmed: 'unconfirmed',
} as const satisfies Record<T.CancelResult['kind'], keyof SweepSummary>;
const DEFAULT_BATCH = 10_000;

type DueKind = 'terminal' | 'notice' | 'reschedule' | 'act';

function emptySummary(owner: string, startedAt: number, preview: boolean): SweepSummary {
  return {
    owner,
    startedAt,
    durationMs: 0,
    preview,
    itemsRead: 0,
    due: 0,
    evaluated: 0,
    rescheduled: 0,
    observed: 0,
    finished: 0,
    warned: 0,
    wouldCancel: 0,
    cancelCalls: 0,
    cancelled: 0,
    alreadyFinished: 0,
    pending: 0,
    retried: 0,
    cancelFailed: 0,
    unconfirmed: 0,
    heldBackByCap: 0,
    deferredForTime: 0,
    lostRaces: 0,
    noticesSent: 0,
    noticesFailed: 0,
    faults: 0,
    quarantined: 0,
    errors: 0,
    probes: [],
    discovered: 0,
    discoveries: [],
    indexRepairs: 0,
    dueLagMs: [],
    actions: [],
  };
}

export class Sweeper {
  private readonly log: Log;
  private readonly now: () => number;
  readonly owner: string;
  private readonly limiters = new Map<string, Limiter>();
  /** When this (warm) sweeper next tries each probe's (and the safety net's) claim: saves a write per sweep. */
  private readonly nextCheckAt = new Map<string, number>();
  private readonly discovery: Discovery | undefined;

  constructor(private readonly deps: SweepDeps) {
    this.log = deps.log ?? silentLog;
    this.now = deps.now ?? Date.now;
    this.owner = deps.owner ?? `sweep-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.discovery = deps.probes ? new Discovery({ config: deps.config, store: deps.store, ledger: deps.probes, log: this.log, now: this.now }) : undefined;
  }

  private get settings() {
    return this.deps.config.settings;
  }

  policyOf(e: Execution): CompiledPolicy {
    return policyFor(this.deps.config, e);
  }

  private ctx(e: Execution): T.Ctx {
    return { now: this.now(), policy: this.policyOf(e), retentionMs: this.settings.retentionMs };
  }

  /** Per-connection limit on provider calls in flight (a connection is one account's rate limit). */
  private limiter(connection: string): Limiter {
    let l = this.limiters.get(connection);
    if (!l) {
      l = new Limiter(this.settings.providerConcurrency);
      this.limiters.set(connection, l);
    }
    return l;
  }

  private adapter(e: Execution): ProviderAdapter | { error: string } {
    try {
      return this.deps.providers.forConnection(e.connection);
    } catch (err) {
      if (err instanceof ConfigError) return { error: err.message };
      throw err;
    }
  }

  /** One sweep over everything due now. */
  async run(opts: SweepOptions = {}): Promise<SweepSummary> {
    const startedAt = this.now();
    const preview = opts.preview ?? false;
    const s = emptySummary(this.owner, startedAt, preview);
    // A bounded batch: after an outage the backlog is worked off over several sweeps, oldest first.
    const due = await this.deps.store.due(startedAt, { limit: opts.limit ?? DEFAULT_BATCH });
    s.itemsRead = due.itemsRead;
    s.due = due.items.length;
    const reserve = opts.reserveMs ?? 30_000;
    const run: Run = {
      s,
      preview,
      policyCancels: 0,
      timeLow: () => opts.remainingMs !== undefined && opts.remainingMs() < reserve,
      heldBackTargets: new Set(),
    };
    // Enough items in flight to keep every connection's provider limit busy while the store works.
    const connections = Math.max(1, new Set(due.items.map((e) => e.connection)).size);
    const concurrency = Math.min(1024, this.settings.providerConcurrency * connections * 16);
    if (!preview) await Promise.all(due.corrupt.map((c) => this.quarantine(c, run)));
    // Enforcement first: items due only by a deadline heartbeats have since pushed back are
    // rescheduled after every warning and cancel of this sweep has been handled.
    const first: Array<[Execution, DueKind]> = [];
    const later: Array<[Execution, DueKind]> = [];
    for (const e of due.items) {
      let kind: DueKind = 'act';
      try {
        kind = this.dueKind(e, startedAt);
      } catch {
        // left to handle(), which records the fault on the execution
      }
      (kind === 'reschedule' ? later : first).push([e, kind]);
    }
    const handleOne = async ([e, kind]: [Execution, DueKind]): Promise<void> => {
      try {
        await this.handle(e, run, kind);
      } catch (err) {
        await this.fault(e, err, run);
      }
    };
    await forEachLimit(first, concurrency, handleOne);
    await forEachLimit(later, concurrency, handleOne);
    if (s.heldBackByCap > 0) await this.capAlert(run);
    // Probes, discovery and the safety net come after enforcement: they never delay a cancel.
    if (!preview) await this.probeConnections(run);
    if (!preview && this.discovery) {
      s.discoveries = await this.discovery.runDue((c) => this.deps.providers.forConnection(c), run.timeLow);
      s.discovered = s.discoveries.reduce((n, d) => n + d.discovered, 0);
    }
    if (!preview) await this.safetyNet(run, new Set(due.items.map((e) => e.id)), concurrency);
    s.durationMs = this.now() - startedAt;
    s.dueLagMs.sort((a, b) => a - b);
    this.log.info('sweep finished', { ...summaryFields(s) });
    return s;
  }

  /**
   * The watchdog failed on this execution (a bug, a store hiccup, anything unexpected): the
   * fault becomes an outcome on the execution itself — counted, backed off, and after
   * maxCancelAttempts in a row `cancel_failed` with an alert — and the sweep goes on.
   */
  private async fault(e: Execution, err: unknown, run: Run): Promise<void> {
    const error = redact((err as Error)?.message ?? String(err));
    this.log.error('sweep: fault on execution', { executionId: e.id, connection: e.connection, error });
    if (run.preview) {
      run.s.errors++;
      return this.act(run, e, 'error', error);
    }
    try {
      const faults = (e.faults ?? 0) + 1;
      const r = await this.deps.store.mutate(e.id, (c) => {
        const t = T.recordFault(
          c,
          { error, maxFaults: this.settings.maxCancelAttempts, retryAt: this.now() + retryDelayMs(faults) },
          { id: this.owner, via: SWEEP_ACTOR_VIA },
          this.ctx(c),
        );
        return t.ok && isTerminal(t.execution.state) ? this.notices(t, c, 'outcome') : t;
      });
      run.s.faults++;
      this.act(run, e, r.ok && r.execution.state === 'cancel_failed' ? 'cancel_failed' : 'fault', error);
      if (r.ok && r.execution.state === 'cancel_failed') {
        run.s.cancelFailed++;
        await this.deliver(r.execution, run);
      }
    } catch (again) {
      // Not even the fault could be written (the store is failing): counted and alarmed.
      run.s.errors++;
      this.act(run, e, 'error', error);
      this.log.error('sweep: could not record a fault', { executionId: e.id, error: redact((again as Error)?.message ?? String(again)) });
    }
  }

  /** An item that does not parse: flag it (once), alert, move on. */
  private async quarantine(c: QuarantinedItem, run: Run): Promise<void> {
    try {
      if (!(await this.deps.store.quarantine(c.id, c.error, this.now()))) return;
      run.s.quarantined++;
      run.s.actions.push({ id: c.id, connection: c.connection ?? '?', externalId: c.externalId ?? '?', action: 'quarantined', detail: c.error });
      this.log.error('sweep: unreadable item quarantined', { executionId: c.id, connection: c.connection, error: c.error });
      const policy =
        (c.policy !== undefined ? policyByName(this.deps.config, c.policy) : undefined) ?? policyByName(this.deps.config, this.deps.config.defaultPolicy);
      const m = alertMessage(
        `Unreadable execution quarantined: ${c.connection ?? '?'}/${c.externalId ?? c.id}`,
        `The stored item ${c.id} cannot be read (${c.error}). It was taken out of enforcement and kept for inspection: \`watchdog list --state quarantined\`. If it is still running on the platform, cancel it by hand.`,
        { executionId: c.id, error: c.error },
      );
      await this.alert(policy?.notify ?? [], m, run, 'quarantine alert');
    } catch (err) {
      run.s.errors++;
      this.log.error('sweep: could not quarantine an unreadable item', { executionId: c.id, error: redact((err as Error)?.message ?? String(err)) });
    }
  }

  private act(run: Run, e: Execution, action: ActionKind, detail?: string): void {
    run.s.actions.push({ id: e.id, connection: e.connection, externalId: e.externalId, action, ...(detail ? { detail } : {}) });
  }

  /**
   * Why a due item is due: it is terminal (notices only), only a notice's retry came, its
   * stored due time was left behind by a later heartbeat (reschedule: heartbeats move dueAt
   * earlier at once but later only when it is near), or its state needs acting on now.
   */
  private dueKind(e: Execution, now: number): DueKind {
    if (isTerminal(e.state)) return 'terminal';
    const stateDue = T.stateDueAt(e, this.policyOf(e), now);
    if (stateDue === undefined || stateDue <= now) return 'act';
    return (e.outbox ?? []).some((n) => n.nextAt <= now) ? 'notice' : 'reschedule';
  }

  private async handle(e: Execution, run: Run, kind: DueKind = this.dueKind(e, this.now())): Promise<void> {
    const s = run.s;
    if (kind !== 'act') {
      if (run.preview) return;
      if (kind !== 'reschedule') return this.deliver(e, run);
      const r = await this.write(e, (c) => T.reschedule(c, this.ctx(c)));
      if (r.ok) s.rescheduled++;
      return;
    }
    s.evaluated++;
    if (e.dueAt !== undefined) s.dueLagMs.push(Math.max(0, this.now() - e.dueAt));
    switch (e.state) {
      case 'running':
      case 'warned':
        return this.underPolicy(e, run);
      case 'cancel_requested':
        if (run.preview) return this.act(run, e, 'would_cancel', 'cancel requested');
        return this.claimAndCancel(e, run, { reasons: e.stopReasons ?? ['manual'], policyDecision: false });
      case 'cancelling':
        if (run.preview) return;
        return this.recover(e, run);
      default:
        return;
    }
  }

  /** running / warned: observe where it helps, evaluate, then warn, cancel or reschedule. */
  private async underPolicy(e: Execution, run: Run): Promise<void> {
    const s = run.s;
    let cur = e;
    const policy = this.policyOf(e);
    const adapter = this.adapter(e);
    const first = evaluate(cur, policy, this.now());
    // Observe the provider unless the action is a cancel whose own answer tells "finished"
    // from "cancelled" (every adapter's cancel does: 4xx → status read): a separate status
    // read would double the calls and still race. Stall is the exception: the provider's
    // progress can show the execution is not stalled after all.
    // Observe only when the answer can change a decision: before a warning, a dry-run or stall
    // cancel, and on the periodic look at a policy without deadlines (recheckAfter).
    const observe =
      'hasStatus' in adapter &&
      adapter.hasStatus &&
      (first.action === 'warn' || first.recheck || (first.action === 'cancel' && (first.dryRun || first.reasons.includes('stall'))));
    if (observe && !run.preview) {
      const st = await this.limiter(e.connection).run(() => adapter.status(e.externalId));
      s.observed++;
      if (st.kind === 'status') {
        if (st.status.phase === 'finished') {
          const notify = cur.state === 'warned' || cur.wouldCancelAt !== undefined;
          const r = await this.write(cur, (c) =>
            this.notices(T.markFinished(c, providerActor(c), this.ctx(c), st.status.raw), c, notify ? 'outcome' : undefined),
          );
          if (r.ok) {
            s.finished++;
            this.act(run, cur, 'finished', `provider status ${st.status.raw}`);
            this.log.info('execution finished (provider status)', {
              executionId: cur.id,
              connection: cur.connection,
              decision: 'finished',
              providerStatus: st.status.raw,
            });
            await this.deliver(r.execution, run);
          }
          return;
        }
        const r = await this.write(cur, (c) => T.observe(c, observation(st.status), this.ctx(c)));
        if (r.ok) cur = r.execution;
      } else {
        this.log.warn('status check failed; deciding on what the store knows', { executionId: cur.id, connection: cur.connection, fault: st.kind });
      }
    }

    const now = this.now();
    const d = evaluate(cur, policy, now);
    if (d.action === 'cancel') {
      if (d.dryRun) {
        if (run.preview) return this.act(run, cur, 'would_cancel', `dry-run policy: ${d.reasons.join(', ')}`);
        const r = await this.write(cur, (c) => this.notices(T.recordWouldCancel(c, policyActor(c), this.ctx(c)), c, 'would_cancel', d.reasons));
        if (r.ok) {
          s.wouldCancel++;
          this.act(run, cur, 'would_cancel', d.reasons.join(', '));
          this.log.info('would cancel (dry-run)', { executionId: cur.id, connection: cur.connection, decision: 'would_cancel', reasons: d.reasons });
          return this.deliver(r.execution, run);
        }
        // Already recorded: just move it along.
        await this.write(cur, (c) => T.reschedule(c, this.ctx(c)));
        return;
      }
      if (run.preview) return this.act(run, cur, 'would_cancel', d.reasons.join(', '));
      return this.claimAndCancel(cur, run, { reasons: d.reasons, policyDecision: true });
    }
    if (d.action === 'warn') {
      if (run.preview) return this.act(run, cur, 'warned', d.warnings.join(', '));
      let warned = false;
      const r = await this.write(cur, (c) => {
        // Re-decide on the current item: a heartbeat may have landed since.
        const again = evaluate(c, this.policyOf(c), this.now());
        warned = again.action === 'warn';
        if (!warned) return T.reschedule(c, this.ctx(c));
        const snoozed = c.snoozedUntil !== undefined && c.snoozedUntil > this.now();
        return this.notices(T.recordWarning(c, again.warnKeys, policyActor(c), this.ctx(c)), c, snoozed ? undefined : 'warning', again.warnings);
      });
      if (r.ok && warned) {
        s.warned++;
        this.act(run, cur, 'warned', d.warnings.join(', '));
        this.log.info('warned', { executionId: cur.id, connection: cur.connection, decision: 'warn', reasons: d.warnings });
        await this.deliver(r.execution, run);
      }
      return;
    }
    if (!run.preview) await this.write(cur, (c) => T.reschedule(c, this.ctx(c)));
  }

  private async claimAndCancel(e: Execution, run: Run, o: { reasons: StopReason[]; policyDecision: boolean }): Promise<void> {
    const s = run.s;
    if (o.policyDecision) {
      // Blast radius: count the slot before any await so parallel items cannot overshoot.
      if (run.policyCancels >= this.settings.maxCancelsPerSweep) {
        s.heldBackByCap++;
        for (const t of this.policyOf(e).notify) run.heldBackTargets.add(t);
        this.act(run, e, 'held_back', `cap of ${this.settings.maxCancelsPerSweep} cancels per sweep reached`);
        return;
      }
      run.policyCancels++;
    }
    if (run.timeLow()) {
      if (o.policyDecision) run.policyCancels--;
      s.deferredForTime++;
      this.act(run, e, 'deferred', 'invocation time low; left due for the next sweep');
      return;
    }
    // A person's request is claimed in their name (the audit says who decided); a policy's in the policy's.
    const claimedFor = (c: Execution): Actor => (c.state === 'cancel_requested' && c.requestedBy ? c.requestedBy : policyActor(c));
    const claim = await this.deps.store.mutate(
      e.id,
      (c) => T.decideAndClaim(c, { owner: this.owner, leaseMs: this.settings.leaseMs, reasons: o.reasons, actor: claimedFor(c) }, this.ctx(c)),
      e,
    );
    if (!claim.ok) {
      if (o.policyDecision) run.policyCancels--;
      if (claim.outcome !== 'not_claimable') {
        s.lostRaces++;
        this.act(run, e, 'lost_race', claim.outcome);
      } else if ('execution' in claim && !isTerminal(claim.execution.state)) {
        // The decision no longer holds (extended, or progress): just move it along.
        await this.write(claim.execution, (c) => T.reschedule(c, this.ctx(c)));
      }
      return;
    }
    // A retry: an earlier attempt may have landed even though no answer came back (a
    // timeout, a reset, a 5xx from a gateway). Ask first rather than cancel twice.
    const adapter = this.adapter(claim.execution);
    const ask = claim.execution.attempts > 1 && 'cancel' in adapter && adapter.hasStatus;
    await (ask ? this.fromStatus(claim.execution, run) : this.cancelClaimed(claim.execution, run, false));
  }

  /** The claim is ours: call the provider's cancel and record what it said. */
  private async cancelClaimed(e: Execution, run: Run, resent: boolean): Promise<void> {
    const adapter = this.adapter(e);
    if (!('cancel' in adapter)) return this.finishClaim(e, run, { kind: 'failed', error: adapter.error });
    const out = await this.limiter(e.connection).run(async () => {
      // Queued for a provider slot until little of the lease is left: by the time the call
      // ended, another sweep could have recovered the claim and sent its own. Leave it to
      // that recovery (status first) instead.
      if (e.lease && e.lease.until - this.now() < this.settings.leaseMs / 2) return undefined;
      run.s.cancelCalls++;
      return adapter.cancel(e.externalId);
    });
    if (out === undefined) {
      run.s.deferredForTime++;
      this.act(run, e, 'deferred', 'lease half gone while waiting for a provider slot; a later sweep recovers the claim');
      this.log.warn('cancel deferred: lease half gone while queued for the provider', { executionId: e.id, connection: e.connection });
      return;
    }
    const result = toCancelResult(out, {
      now: this.now(),
      attempts: e.attempts,
      maxAttempts: this.settings.maxCancelAttempts,
      pendingCheckMs: this.pendingCheckMs(),
      resent,
    });
    return this.finishClaim(e, run, result);
  }

  private pendingCheckMs(): number {
    return Math.max(1_000, Math.min(60_000, Math.round(this.settings.confirmWithinMs / 5)));
  }

  private async finishClaim(e: Execution, run: Run, result: T.CancelResult): Promise<void> {
    const s = run.s;
    const r = await this.deps.store.mutate(
      e.id,
      (c) => {
        const t = T.recordOutcome(c, this.owner, result, { id: this.owner, via: SWEEP_ACTOR_VIA }, this.ctx(c));
        return t.ok && isTerminal(t.execution.state) ? this.notices(t, c, 'outcome') : t;
      },
      e,
    );
    if (!r.ok) {
      // Our lease expired mid-call and someone else took over: they own the outcome now.
      s.lostRaces++;
      this.act(run, e, 'lost_race', `outcome not recorded: ${r.outcome}`);
      this.log.warn('cancel outcome not recorded (lease lost)', { executionId: e.id, connection: e.connection, result: result.kind });
      return;
    }
    const kind = RESULT_ACTION[result.kind];
    s[RESULT_COUNTER[result.kind]]++;
    const detail = 'error' in result ? redact(result.error) : 'providerStatus' in result ? result.providerStatus : undefined;
    this.act(run, e, kind, detail);
    const level = result.kind === 'failed' || result.kind === 'unconfirmed' ? 'error' : 'info';
    this.log[level](`cancel ${result.kind}`, {
      executionId: e.id,
      connection: e.connection,
      decision: 'cancel',
      result: result.kind,
      attempts: r.execution.attempts,
      ...(detail ? { detail } : {}),
    });
    await this.deliver(r.execution, run);
  }

  /**
   * `cancelling` came due: an expired lease (a sweep died after claiming) or a cancel the
   * provider accepted and we check on. Status first; cancel again only if still running.
   */
  private async recover(e: Execution, run: Run): Promise<void> {
    if (run.timeLow()) {
      run.s.deferredForTime++;
      return;
    }
    const claim = await this.deps.store.mutate(
      e.id,
      (c) => T.claimCancel(c, { owner: this.owner, leaseMs: this.settings.leaseMs, actor: { id: this.owner, via: SWEEP_ACTOR_VIA } }, this.ctx(c)),
      e,
    );
    if (!claim.ok) {
      run.s.lostRaces++;
      return;
    }
    return this.fromStatus(claim.execution, run);
  }

  /**
   * Holding the claim: read the provider's status, then decide whether to (re)send the
   * cancel. A platform without a status call can only be sent the cancel again.
   */
  private async fromStatus(cur: Execution, run: Run): Promise<void> {
    const adapter = this.adapter(cur);
    if (!('cancel' in adapter)) return this.finishClaim(cur, run, { kind: 'failed', error: adapter.error });
    if (!adapter.hasStatus) return this.cancelClaimed(cur, run, cur.cancelAcceptedAt !== undefined);
    const st = await this.limiter(cur.connection).run(() => adapter.status(cur.externalId));
    run.s.observed++;
    const now = this.now();
    if (st.kind !== 'status') {
      const result = toCancelResult(st, { now, attempts: cur.attempts, maxAttempts: this.settings.maxCancelAttempts, pendingCheckMs: this.pendingCheckMs() });
      return this.finishClaim(cur, run, result);
    }
    const status = st.status;
    if (status.phase === 'finished') {
      return this.finishClaim(
        cur,
        run,
        status.result === 'cancelled' ? { kind: 'cancelled', providerStatus: status.raw } : { kind: 'already_finished', providerStatus: status.raw },
      );
    }
    if (cur.cancelAcceptedAt === undefined) {
      // An unanswered attempt that landed on an asynchronous platform: accepted after all.
      if (status.phase === 'cancelling')
        return this.finishClaim(cur, run, { kind: 'pending', checkAt: now + this.pendingCheckMs(), providerStatus: status.raw });
      return this.cancelClaimed(cur, run, false); // never got an answer: send it
    }
    const confirm = this.settings.confirmWithinMs;
    const since = cur.cancelResentAt ?? cur.cancelAcceptedAt;
    if (now - since < confirm)
      return this.finishClaim(cur, run, { kind: 'pending', checkAt: Math.min(now + this.pendingCheckMs(), since + confirm), providerStatus: status.raw });
    if (cur.cancelResentAt === undefined) return this.cancelClaimed(cur, run, true); // once more
    return this.finishClaim(cur, run, {
      kind: 'unconfirmed',
      providerStatus: status.raw,
      error: `accepted ${Math.round((now - cur.cancelAcceptedAt) / 1000)}s ago and sent twice, still ${status.raw}`,
    });
  }

  /** Add notices for the policy's notify targets to a transition (same write). */
  private notices(t: T.Transition, cur: Execution, kind: 'warning' | 'would_cancel' | 'outcome' | undefined, reasons?: Reason[]): T.Transition {
    if (kind === undefined || !t.ok) return t;
    return T.withNotices(t, this.policyOf(cur).notify, kind, this.ctx(cur), reasons);
  }

  private async write(cur: Execution, fn: (c: Execution) => T.Transition): Promise<WriteOutcome> {
    return this.deps.store.mutate(cur.id, fn, cur);
  }

  /** Send this execution's due notices, then settle the outbox. Never throws. */
  private async deliver(e: Execution, run: Run): Promise<void> {
    const now = this.now();
    const dueNotices = (e.outbox ?? []).filter((n) => n.nextAt <= now);
    if (dueNotices.length === 0) return;
    const policy = this.policyOf(e);
    const deliveries: T.Delivery[] = await Promise.all(
      dueNotices.map(async (n): Promise<T.Delivery> => {
        try {
          const notifier = this.deps.notifiers.forTarget(n.target);
          const r = await notifier.send(renderNotice(e, n, policy, now), e.threads?.[n.target]);
          run.s.noticesSent++;
          return { key: n.key, ok: true, ...(r.thread ? { thread: r.thread } : {}) };
        } catch (err) {
          run.s.noticesFailed++;
          const error = redact((err as Error).message);
          this.log.warn('notification failed', { executionId: e.id, target: n.target, kind: n.kind, error });
          return { key: n.key, ok: false, error };
        }
      }),
    );
    try {
      await this.write(e, (c) => T.settleNotices(c, deliveries, { id: this.owner, via: SWEEP_ACTOR_VIA }, this.ctx(c)));
    } catch (err) {
      // Unsettled notices stay in the outbox and are sent again: duplicates beat silence.
      this.log.warn('could not settle notices', { executionId: e.id, error: redact((err as Error).message) });
    }
  }

  /** Every `settings.probeEvery`: probe each connection once (across sweeps); notice an incident and its recovery. */
  private async probeConnections(run: Run): Promise<void> {
    const ledger = this.deps.probes;
    const every = this.settings.probeEveryMs;
    if (!ledger || every <= 0) return;
    await Promise.all(
      [...this.deps.config.connections.keys()].map(async (connection) => {
        const now = this.now();
        if ((this.nextCheckAt.get(connection) ?? 0) > now || run.timeLow()) return;
        try {
          this.nextCheckAt.set(connection, now + every);
          const previous = await ledger.claim(connection, now, every);
          if (previous === false) return;
          let report: ProbeReport | undefined;
          try {
            const adapter = this.deps.providers.forConnection(connection);
            report = await this.limiter(connection).run(() => probe(connection, adapter));
          } catch (err) {
            report = { connection, healthy: false, detail: redact((err as Error)?.message ?? String(err)) };
          }
          if (!report) return; // no status call: cannot be probed
          const changed = previous.healthy === undefined ? !report.healthy : previous.healthy !== report.healthy;
          report.changed = changed;
          run.s.probes.push(report);
          await ledger.record(connection, report.healthy, report.detail, now, changed);
          this.log[report.healthy ? 'info' : 'error']('connection probe', { connection, healthy: report.healthy, detail: report.detail });
          if (changed) await this.probeNotice(report, run);
        } catch (err) {
          run.s.errors++;
          this.log.error('connection probe failed', { connection, error: redact((err as Error)?.message ?? String(err)) });
        }
      }),
    );
  }

  /**
   * Every `settings.repairEvery`: find work through another path than the due index (the
   * state index, confirmed by the item), so an execution whose due entry was lost is still
   * enforced. Each one the due index really lacks is re-indexed (rewritten), handled in this
   * sweep and counted in IndexRepairs, which is alarmed: in AWS it should never happen.
   */
  private async safetyNet(run: Run, seen: ReadonlySet<string>, concurrency: number): Promise<void> {
    const ledger = this.deps.probes;
    const every = this.settings.repairEveryMs;
    const now = this.now();
    if (!ledger || every <= 0 || (this.nextCheckAt.get(SAFETY_NET) ?? 0) > now || run.timeLow()) return;
    try {
      this.nextCheckAt.set(SAFETY_NET, now + every);
      if ((await ledger.claim(SAFETY_NET, now, every)) === false) return;
      // A grace period: an index written a moment ago may not show the entry yet (AWS GSIs are eventually consistent).
      const before = now - SAFETY_NET_GRACE_MS;
      // Only what this sweep's due query did not return is a candidate; the item decides.
      const candidates = (await this.deps.store.overdue(before)).filter((id) => !seen.has(id));
      await forEachLimit(candidates, concurrency, async (id) => {
        const e = await this.deps.store.get(id).catch(() => undefined);
        if (!e || isTerminal(e.state) || e.dueAt === undefined || e.dueAt > before) return;
        try {
          if (await this.deps.store.inDueIndex(e)) return; // indexed, only beyond this sweep's batch
          const r = await this.write(e, (c) => T.reschedule(c, this.ctx(c)));
          run.s.indexRepairs++;
          this.log.error('safety net: execution missing from the due index, re-indexed', {
            executionId: e.id,
            connection: e.connection,
            state: e.state,
            dueAt: e.dueAt,
          });
          await this.handle(r.ok ? r.execution : e, run);
        } catch (err) {
          await this.fault(e, err, run);
        }
      });
      await ledger.record(SAFETY_NET, true, `checked ${candidates.length} overdue`, now, false);
    } catch (err) {
      run.s.errors++;
      this.log.error('safety net failed', { error: redact((err as Error)?.message ?? String(err)) });
    }
  }

  private async probeNotice(r: ProbeReport, run: Run): Promise<void> {
    const m: Message = r.healthy
      ? {
          ...alertMessage(`Connection recovered: ${r.connection}`, `The probe of ${r.connection} succeeds again: ${r.detail}.`, {
            connection: r.connection,
            healthy: true,
          }),
          severity: 'info',
        }
      : alertMessage(
          `Connection unhealthy: ${r.connection}`,
          `The watchdog cannot use ${r.connection}: ${r.detail}. Cancels on it will fail until this is fixed (watchdog doctor checks it).`,
          { connection: r.connection, healthy: false },
        );
    const targets = new Set(this.deps.config.policies.flatMap((p) => p.notify));
    await this.alert(targets, m, run, 'probe notice');
  }

  /** A sweep-level message (not one execution's outbox) to each target; failures counted, never thrown. */
  private async alert(targets: Iterable<string>, m: Message, run: Run, what: string): Promise<void> {
    await Promise.all(
      [...targets].map(async (t) => {
        try {
          await this.deps.notifiers.forTarget(t).send(m);
          run.s.noticesSent++;
        } catch (err) {
          run.s.noticesFailed++;
          this.log.warn(`${what} failed`, { target: t, error: redact((err as Error).message) });
        }
      }),
    );
  }

  private async capAlert(run: Run): Promise<void> {
    const m: Message = alertMessage(
      `Cancel cap reached: ${run.s.heldBackByCap} runaway(s) held back`,
      `This sweep cancelled ${this.settings.maxCancelsPerSweep} executions (settings.maxCancelsPerSweep) and held back ${run.s.heldBackByCap} more. They stay due and are retried by the next sweep; if this is a bad policy, set it to dry-run now.`,
      { heldBack: run.s.heldBackByCap, cap: this.settings.maxCancelsPerSweep, owner: this.owner },
    );
    this.log.error('cancel cap reached', { heldBack: run.s.heldBackByCap, cap: this.settings.maxCancelsPerSweep });
    await this.alert(run.heldBackTargets, m, run, 'cap alert');
  }

  /** Discover on one connection now, whatever its cadence (tests, `watchdog coverage --discover`). */
  discoverNow(connection: string): Promise<DiscoveryRecord> {
    if (!this.discovery) throw new Error('discovery needs the probe ledger');
    return this.discovery.discover(connection, (c) => this.deps.providers.forConnection(c));
  }

  /**
   * A person's cancel (CLI, chat, hook): request it, then claim and cancel right away
   * within `budgetMs`. Past the budget the work goes on (locally) or is left to the next
   * sweep (Lambda): the execution is cancel_requested and due now either way.
   */
  async cancelNow(id: string, actor: Actor, reason: string | undefined, budgetMs = 2_000): Promise<Exclude<WriteOutcome, { ok: true }> | CancelNowResult> {
    const requested = await this.requestCancel(id, actor, reason);
    if (!requested.ok) return requested;
    const run: Run = { s: emptySummary(this.owner, this.now(), false), preview: false, policyCancels: 0, timeLow: () => false, heldBackTargets: new Set() };
    const work = this.claimAndCancel(requested.execution, run, { reasons: ['manual'], policyDecision: false }).catch((err: Error) => {
      this.log.error('manual cancel failed', { executionId: id, error: redact(err.message) });
    });
    const settled = work.then(async () => (await this.deps.store.get(id)) ?? requested.execution);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      work.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), budgetMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
    const latest = timedOut ? requested.execution : await settled;
    return timedOut || !isTerminal(latest.state) ? { status: 'in_progress', execution: latest, settled } : { status: 'done', execution: latest, settled };
  }

  /** A person's cancel, recorded only: `cancel_requested`, due now (the sweep or a follow-up carries it out). */
  requestCancel(id: string, actor: Actor, reason: string | undefined): Promise<WriteOutcome> {
    return this.deps.store.mutate(id, (c) => T.requestCancel(c, ['manual'], actor, this.ctx(c), reason ? `${reason}` : 'manual cancel'));
  }

  /**
   * Carry out a requested cancel (a follow-up in Lambda): claim and call the provider when it
   * is still `cancel_requested`; when someone else holds the claim, wait for their outcome
   * until `waitMs`. Returns the execution as it stands then.
   */
  async carryOutCancel(id: string, waitMs: number): Promise<Execution | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const cur = await this.deps.store.get(id);
      if (!cur || isTerminal(cur.state)) return cur;
      if (cur.state === 'cancel_requested' && (cur.nextAttemptAt === undefined || cur.nextAttemptAt <= this.now())) {
        const run: Run = { s: emptySummary(this.owner, this.now(), false), preview: false, policyCancels: 0, timeLow: () => false, heldBackTargets: new Set() };
        await this.claimAndCancel(cur, run, { reasons: cur.stopReasons ?? ['manual'], policyDecision: false });
        const after = await this.deps.store.get(id);
        if (!after || isTerminal(after.state) || Date.now() >= deadline) return after;
      } else if (Date.now() >= deadline) {
        return cur;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

interface Run {
  s: SweepSummary;
  preview: boolean;
  policyCancels: number;
  timeLow: () => boolean;
  heldBackTargets: Set<string>;
}

const policyActor = (e: Execution): Actor => ({ id: `policy:${e.policy}`, via: SWEEP_ACTOR_VIA });
const providerActor = (e: Execution): Actor => ({ id: `provider:${e.connection}`, via: SWEEP_ACTOR_VIA });

function observation(s: ProviderStatus): T.Observation {
  return {
    raw: s.raw,
    ...(s.progress ? { fraction: s.progress.fraction } : {}),
    ...(s.progress?.done !== undefined ? { done: s.progress.done } : {}),
    ...(s.progress?.total !== undefined ? { total: s.progress.total } : {}),
  };
}

const pct = (sorted: number[], p: number): number | undefined =>
  sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Counts and lag percentiles, without the per-execution lists: for logs, metrics and `--json`. */
export function summaryFields(s: SweepSummary): Record<string, number | string | boolean | undefined> {
  const counts: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(s))
    if (k !== 'actions' && k !== 'dueLagMs' && k !== 'probes' && k !== 'discoveries') counts[k] = v as number | string | boolean;
  counts.untracked = s.discoveries.reduce((n, d) => n + d.untracked, 0);
  counts.unhealthyConnections = s.probes
    .filter((p) => !p.healthy)
    .map((p) => p.connection)
    .join(',');
  const dueLagMs = s.dueLagMs;
  return { ...counts, dueLagP50Ms: pct(dueLagMs, 50), dueLagP99Ms: pct(dueLagMs, 99), dueLagMaxMs: dueLagMs.at(-1) };
}
