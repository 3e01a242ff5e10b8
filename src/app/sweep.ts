/**
 * The sweep: due → observe → decide → act. One implementation for the scheduled Lambda,
 * `watchdog sweep` and the local runner. Acting is the cancel protocol (cancel.ts: claim →
 * call → record → recover), warnings and reschedules (core transitions), and notice
 * delivery (notices.ts); every outcome is counted through one `Tally.record` (summary.ts).
 * After enforcement: connection probes, discovery (discovery.ts) and the safety net.
 */
import type { CompiledPolicy, WatchdogConfig } from '../config/load.js';
import { policyByName, policyFor } from '../config/load.js';
import type { Execution, StopReason } from '../core/model.js';
import { isTerminal } from '../core/model.js';
import { type Gate, breachKeys, gate } from '../core/approval.js';
import { breachAt, effectiveLimits, evaluate } from '../core/policy.js';
import * as T from '../core/transitions.js';
import { type Log, redact, silentLog } from '../log.js';
import { alertMessage } from '../notify/render.js';
import type { NotifierLookup } from '../notify/registry.js';
import type { Incident, Message } from '../notify/types.js';
import type { ProviderStatus } from '../providers/types.js';
import type { DiscoveryRecord, ProbeLedger } from '../store/probes.js';
import type { ExecutionStore, QuarantinedItem, WriteOutcome } from '../store/types.js';
import { ProviderCalls, type ProviderLookup } from './calls.js';
import { Cadence } from './cadence.js';
import { CancelProtocol, SWEEP_VIA, policyActor } from './cancel.js';
import { contextFor } from './context.js';
import { Discovery } from './discovery.js';
import { forEachLimit } from './limiter.js';
import { Notices } from './notices.js';
import { retryDelayMs } from './outcome.js';
import { buildReport, digestMessage } from './report.js';
import { type ProbeReport, probe } from './probe.js';
import { type SweepSummary, Tally, emptySummary, summaryFields } from './summary.js';

export type { ProviderLookup } from './calls.js';
export { type ActionKind, type SweepAction, type SweepSummary, summaryFields } from './summary.js';

export interface SweepDeps {
  config: WatchdogConfig;
  store: ExecutionStore;
  providers: ProviderLookup;
  notifiers: NotifierLookup;
  log?: Log;
  now?: () => number;
  /** Identifies this sweeper: it holds the claims it takes (leases) and signs its audit events. */
  holder?: string;
  /** Where probes are claimed and recorded; without it, no probes run. */
  probes?: ProbeLedger;
}

export interface SweepOptions {
  /** Decide and report only (`watchdog sweep --preview`): no writes, no provider calls, no notifications. */
  preview?: boolean;
  /** Remaining time of the invocation (Lambda context). */
  remainingMs?: () => number;
  /** Stop starting work when less than this remains of the invocation. Default 30 s. */
  reserveMs?: number;
  /**
   * The schedule (ms between sweeps): the sweep also ends before the next one is due (less a
   * margin of a sixth, at most 10 s), so sweeps do not overlap even without reserved concurrency.
   */
  scheduleMs?: number;
  /** An absolute deadline (ms) given by the caller (the continuous loop's pass), on top of the others. */
  deadlineAt?: number;
  /** Max due executions to read per sweep (default 10,000; the rest stays due). */
  limit?: number;
}

/** The safety net's entry in the probe ledger (no connection name contains '#'). */
const SAFETY_NET = '#safety-net';
/** The digest's entry in the probe ledger. */
const DIGEST = '#digest';
const SAFETY_NET_GRACE_MS = 60_000;
const DEFAULT_BATCH = 10_000;

type DueKind = 'terminal' | 'aftercare' | 'notice' | 'reschedule' | 'act';

export class Sweeper {
  private readonly log: Log;
  private readonly now: () => number;
  readonly holder: string;
  /** Probes, the safety net and discovery: once per interval across sweeps. */
  private readonly cadence: Cadence | undefined;
  private readonly discovery: Discovery | undefined;
  private readonly ctx: (e: Execution) => T.Ctx;
  readonly calls: ProviderCalls;
  readonly notices: Notices;
  /** The cancel protocol, shared with people's cancels (the application service). */
  readonly cancels: CancelProtocol;

  constructor(private readonly deps: SweepDeps) {
    this.log = deps.log ?? silentLog;
    this.now = deps.now ?? Date.now;
    this.holder = deps.holder ?? `sweep-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.ctx = contextFor(deps.config, this.now);
    this.calls = new ProviderCalls(deps.providers, deps.config.settings.providerConcurrency);
    this.notices = new Notices({
      config: deps.config,
      store: deps.store,
      notifiers: deps.notifiers,
      log: this.log,
      now: this.now,
      actor: { id: this.holder, via: SWEEP_VIA },
    });
    this.cancels = new CancelProtocol({
      config: deps.config,
      store: deps.store,
      calls: this.calls,
      notices: this.notices,
      log: this.log,
      now: this.now,
      holder: this.holder,
    });
    this.cadence = deps.probes ? new Cadence(deps.probes) : undefined;
    this.discovery = this.cadence ? new Discovery({ config: deps.config, store: deps.store, cadence: this.cadence, log: this.log, now: this.now }) : undefined;
  }

  private get settings() {
    return this.deps.config.settings;
  }

  policyOf(e: Execution): CompiledPolicy {
    return policyFor(this.deps.config, e);
  }

  /** One sweep over everything due now. */
  async run(opts: SweepOptions = {}): Promise<SweepSummary> {
    const startedAt = this.now();
    const preview = opts.preview ?? false;
    const s = emptySummary(this.holder, startedAt, preview);
    // A bounded batch: after an outage the backlog is worked off over several sweeps, oldest first.
    const due = await this.deps.store.due(startedAt, { limit: opts.limit ?? DEFAULT_BATCH });
    s.itemsRead = due.itemsRead;
    s.due = due.items.length;
    const reserve = opts.reserveMs ?? 30_000;
    // One deadline for the whole sweep: every claim, recovery, status read, warning and notice
    // starts only before it; what is left stays due for the next sweep (Deferred, SweepOverrun).
    const scheduleEnd = Math.min(
      opts.scheduleMs === undefined ? Infinity : startedAt + opts.scheduleMs - Math.min(10_000, opts.scheduleMs / 6),
      opts.deadlineAt ?? Infinity,
    );
    const run: Run = {
      tally: new Tally(s),
      preview,
      policyCancels: 0,
      timeLow: () => (opts.remainingMs !== undefined && opts.remainingMs() < reserve) || this.now() >= scheduleEnd,
      heldBackTargets: new Set(),
      heldHeartbeatTargets: new Set(),
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
    if (s.heartbeatHeld > 0)
      await this.heartbeatHoldAlert(run).catch((err: unknown) => {
        run.tally.count('errors');
        this.log.error('heartbeat hold alert failed', { error: redact((err as Error)?.message ?? String(err)) });
      });
    // Probes, discovery and the safety net come after enforcement: they never delay a cancel.
    if (!preview) await this.probeConnections(run);
    if (!preview && this.discovery) {
      // A discovery starts only with its whole budget left before the invocation's reserve.
      const noRoom = () => run.timeLow() || (opts.remainingMs !== undefined && opts.remainingMs() < reserve + this.settings.discoveryBudgetMs);
      s.discoveries = await this.discovery.runDue((c) => this.deps.providers.forConnection(c), noRoom);
      s.discovered = s.discoveries.reduce((n, d) => n + d.discovered, 0);
    }
    if (!preview) await this.safetyNet(run, new Set(due.items.map((e) => e.id)), concurrency);
    if (!preview) await this.digest(run);
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
    if (run.preview) return run.tally.record('error', e, error);
    try {
      const faults = (e.faults ?? 0) + 1;
      const r = await this.deps.store.mutate(e.id, (c) => {
        const t = T.recordFault(
          c,
          { error, maxFaults: this.settings.maxCancelAttempts, retryAt: this.now() + retryDelayMs(faults) },
          { id: this.holder, via: SWEEP_VIA },
          this.ctx(c),
        );
        return t.ok && isTerminal(t.execution.state) ? this.notices.add(t, c, 'outcome') : t;
      });
      const gaveUp = r.ok && r.execution.state === 'cancel_failed';
      // The fault that gave up is both: a fault, and a cancel that failed (one action line).
      if (gaveUp) run.tally.count('faults');
      run.tally.record(gaveUp ? 'cancel_failed' : 'fault', e, error);
      if (gaveUp && r.ok) await this.notices.deliver(r.execution, run.tally);
    } catch (again) {
      // Not even the fault could be written (the store is failing): counted and alarmed.
      run.tally.record('error', e, error);
      this.log.error('sweep: could not record a fault', { executionId: e.id, error: redact((again as Error)?.message ?? String(again)) });
    }
  }

  /** An item that does not parse: flag it (once), alert, move on. */
  private async quarantine(c: QuarantinedItem, run: Run): Promise<void> {
    try {
      if (!(await this.deps.store.quarantine(c.id, c.error, this.now()))) return;
      run.tally.record('quarantined', c, c.error);
      this.log.error('sweep: unreadable item quarantined', { executionId: c.id, connection: c.connection, error: c.error });
      const policy =
        (c.policy !== undefined ? policyByName(this.deps.config, c.policy) : undefined) ?? policyByName(this.deps.config, this.deps.config.defaultPolicy);
      const m = alertMessage(
        'quarantined',
        { key: `watchdog/${c.id}/quarantined`, action: 'trigger' },
        `Unreadable execution quarantined: ${c.connection ?? '?'}/${c.externalId ?? c.id}`,
        `The stored item ${c.id} cannot be read (${c.error}). It was taken out of enforcement and kept for inspection: \`watchdog list --state quarantined\`. If it is still running on the platform, cancel it by hand.`,
        { executionId: c.id, error: c.error },
      );
      await this.notices.alert(policy?.notify ?? [], m, run.tally, 'quarantine alert');
    } catch (err) {
      run.tally.count('errors');
      this.log.error('sweep: could not quarantine an unreadable item', { executionId: c.id, error: redact((err as Error)?.message ?? String(err)) });
    }
  }

  private write(cur: Execution, fn: (c: Execution) => T.Transition): Promise<WriteOutcome> {
    return this.deps.store.mutate(cur.id, fn, cur);
  }

  /**
   * Why a due item is due: it is terminal (notices only), only a notice's retry came, its
   * stored due time was left behind by a later heartbeat (reschedule: heartbeats move dueAt
   * earlier at once but later only when it is near), or its state needs acting on now.
   */
  private dueKind(e: Execution, now: number): DueKind {
    if (isTerminal(e.state)) {
      const look = T.stateDueAt(e, this.policyOf(e), now);
      return look !== undefined && look <= now ? 'aftercare' : 'terminal';
    }
    const policy = this.policyOf(e);
    const stateDue = T.stateDueAt(e, policy, now);
    if (stateDue === undefined || stateDue <= now) return 'act';
    if ((e.outbox ?? []).some((n) => n.nextAt <= now)) return 'notice';
    // What made it due is the periodic look (recheckAfter), which always lies ahead of `now`
    // when computed afresh: act on it (a status read), do not just move it.
    return T.periodicLook(e, policy, now) ? 'act' : 'reschedule';
  }

  private async handle(e: Execution, run: Run, kind: DueKind = this.dueKind(e, this.now())): Promise<void> {
    const { tally } = run;
    if (!run.preview && run.timeLow()) return tally.record('deferred', e, DEFERRED);
    if (kind === 'aftercare') return run.preview ? undefined : this.aftercare(e, run);
    if (kind !== 'act') {
      if (run.preview) return;
      if (kind !== 'reschedule') return this.notices.deliver(e, tally);
      const r = await this.write(e, (c) => T.reschedule(c, this.ctx(c)));
      if (r.ok) tally.count('rescheduled');
      return;
    }
    tally.count('evaluated');
    if (e.dueAt !== undefined) tally.summary.dueLagMs.push(Math.max(0, this.now() - e.dueAt));
    switch (e.state) {
      case 'running':
      case 'warned':
        return this.underPolicy(e, run);
      case 'cancel_requested':
        if (run.preview) return tally.record('preview_cancel', e, 'cancel requested');
        return this.enforce(e, run, { reasons: e.stopReasons ?? ['manual'], policyDecision: false });
      case 'cancelling':
        if (run.preview) return;
        if ((await this.cancels.recover(e, tally, run.timeLow)) === 'deferred') tally.record('deferred', e, DEFERRED);
        return;
      default:
        return;
    }
  }

  /** running / warned: observe where it helps, evaluate, then warn, cancel or reschedule. */
  private async underPolicy(e: Execution, run: Run): Promise<void> {
    const { tally } = run;
    let cur = e;
    const policy = this.policyOf(e);
    const adapter = this.calls.adapter(e.connection);
    const first = evaluate(cur, policy, this.now());
    // Observe the provider unless the action is a cancel whose own answer tells "finished"
    // from "cancelled" (every adapter's cancel does: 4xx → status read): a separate status
    // read would double the calls and still race. Stall is the exception: the provider's
    // progress can show the execution is not stalled after all.
    // Observe only when the answer can change a decision: before a warning, a dry-run or stall
    // cancel, and on a periodic look (recheckAfter: no deadline, a recorded dry-run, a kept breach).
    const observe =
      'hasStatus' in adapter &&
      adapter.hasStatus &&
      (first.action === 'warn' || (first.action === 'cancel' && (first.dryRun || first.reasons.includes('stall'))) || T.periodicLook(cur, policy, this.now()));
    if (observe && !run.preview) {
      const st = await this.calls.run(e.connection, async () => (run.timeLow() ? undefined : adapter.status(e.externalId)));
      if (st === undefined) return tally.record('deferred', e, DEFERRED);
      tally.count('observed');
      if (st.kind === 'status') {
        if (st.status.phase === 'finished') {
          const notify = cur.state === 'warned' || cur.wouldCancelAt !== undefined;
          const r = await this.write(cur, (c) =>
            this.notices.add(T.markFinished(c, providerActor(c), this.ctx(c), st.status.raw), c, notify ? 'outcome' : undefined),
          );
          if (r.ok) {
            tally.record('finished', cur, `provider status ${st.status.raw}`);
            this.log.info('execution finished (provider status)', {
              executionId: cur.id,
              connection: cur.connection,
              decision: 'finished',
              providerStatus: st.status.raw,
            });
            await this.notices.deliver(r.execution, tally);
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
        if (run.preview) return tally.record('preview_cancel', cur, `dry-run policy (it would record would_cancel): ${d.reasons.join(', ')}`);
        const r = await this.write(cur, (c) => this.notices.add(T.recordWouldCancel(c, policyActor(c), this.ctx(c)), c, 'would_cancel', d.reasons));
        if (r.ok) {
          tally.record('would_cancel', cur, d.reasons.join(', '));
          this.log.info('would cancel (dry-run)', { executionId: cur.id, connection: cur.connection, decision: 'would_cancel', reasons: d.reasons });
          return this.notices.deliver(r.execution, tally);
        }
        // Already recorded: just move it along.
        await this.write(cur, (c) => T.reschedule(c, this.ctx(c)));
        return;
      }
      const g = gate(cur, policy, d.reasons, now);
      if (run.preview)
        return tally.record('preview_cancel', cur, g.kind === 'cancel' ? d.reasons.join(', ') : `${d.reasons.join(', ')} (approval mode: ${g.kind})`);
      if (T.onlyHeartbeat(d.reasons)) {
        const why = await this.heartbeatHoldReason(cur, run, now);
        if (why !== undefined) return this.holdHeartbeat(cur, run, why);
      }
      if (g.kind !== 'cancel') return this.approval(cur, run, g);
      if (g.why === 'silence' && cur.approval?.answer === undefined) {
        // The silence is audited before its cancel is claimed.
        const r = await this.write(cur, (c) => T.recordSilence(c, policyActor(c), this.ctx(c)));
        if (!r.ok) return;
        cur = r.execution;
        tally.record(
          'approval_unanswered',
          cur,
          `no answer: cancelling${cur.approval?.silence === 'cancel' && policy.onSilence === 'keep' ? ' (the request was never delivered)' : ' (onSilence: cancel)'}`,
        );
      }
      return this.enforce(cur, run, { reasons: d.reasons, policyDecision: true, breachAt: breachAt(cur, policy, d.reasons, now) });
    }
    if (d.action === 'warn') {
      if (run.preview) return tally.record('preview_warn', cur, d.warnings.join(', '));
      let warned = false;
      const r = await this.write(cur, (c) => {
        // Re-decide on the current item: a heartbeat may have landed since.
        const again = evaluate(c, this.policyOf(c), this.now());
        warned = again.action === 'warn';
        if (!warned) return T.reschedule(c, this.ctx(c));
        const snoozed = c.snoozedUntil !== undefined && c.snoozedUntil > this.now();
        return this.notices.add(T.recordWarning(c, again.warnKeys, policyActor(c), this.ctx(c)), c, snoozed ? undefined : 'warning', again.warnings);
      });
      if (r.ok && warned) {
        tally.record('warned', cur, d.warnings.join(', '));
        this.log.info('warned', { executionId: cur.id, connection: cur.connection, decision: 'warn', reasons: d.warnings });
        // Past the deadline the notice stays in the outbox: the next sweep delivers it.
        if (!run.timeLow()) await this.notices.deliver(r.execution, tally);
      }
      return;
    }
    if (!run.preview) await this.write(cur, (c) => T.reschedule(c, this.ctx(c)));
  }

  /**
   * Approval mode (core/approval.ts): ask people about a breach, record a silence the policy
   * keeps, or (a request waiting, a keep) move the run to its next moment. Each write decides
   * again on the current item, so an answer or a heartbeat that landed since wins.
   */
  private async approval(e: Execution, run: Run, g: Exclude<Gate, { kind: 'cancel' }>): Promise<void> {
    const { tally } = run;
    if (g.kind === 'wait' || g.kind === 'kept') {
      await this.write(e, (c) => T.reschedule(c, this.ctx(c)));
      return;
    }
    let done = false;
    const r = await this.write(e, (c) => {
      const policy = this.policyOf(c);
      const now = this.now();
      const d = evaluate(c, policy, now);
      const again = d.action === 'cancel' && !d.dryRun ? gate(c, policy, d.reasons, now).kind : 'none';
      done = again === g.kind;
      if (!done) return T.reschedule(c, this.ctx(c));
      if (g.kind === 'ask')
        return this.notices.add(T.askApproval(c, d.reasons, breachKeys(c, policy, d.reasons, now), policyActor(c), this.ctx(c)), c, 'approval', d.reasons);
      return this.notices.add(T.recordSilence(c, policyActor(c), this.ctx(c)), c, 'kept', c.approval?.reasons);
    });
    if (!r.ok || !done) return;
    const what = g.kind === 'ask' ? 'approval_asked' : 'approval_unanswered';
    const reasons = r.execution.approval?.reasons ?? [];
    tally.record(what, e, g.kind === 'ask' ? reasons.join(', ') : 'no answer: kept running (onSilence: keep)');
    this.log.info(g.kind === 'ask' ? 'approval asked' : 'approval unanswered: kept running', { executionId: e.id, connection: e.connection, reasons });
    if (!run.timeLow()) await this.notices.deliver(r.execution, tally);
  }

  /**
   * A run the watchdog could not stop (cancel_failed, cancel_unconfirmed): is it still running?
   * Seen stopped → recorded, and the incident its failure opened resolves (docs/oncall.md).
   */
  private async aftercare(e: Execution, run: Run): Promise<void> {
    const adapter = this.calls.adapter(e.connection);
    if (!('cancel' in adapter) || !adapter.hasStatus) {
      // Nothing to read: the incident stays open for a person to resolve.
      await this.write(e, (c) => T.recordChecked(c, undefined, this.ctx(c), true));
      return this.notices.deliver(e, run.tally);
    }
    const st = await this.calls.run(e.connection, async () => (run.timeLow() ? undefined : adapter.status(e.externalId)));
    if (st === undefined) return run.tally.record('deferred', e, DEFERRED);
    run.tally.count('observed');
    const stopped = st.kind === 'status' && st.status.phase === 'finished' ? st.status.raw : undefined;
    const r =
      stopped !== undefined
        ? await this.write(e, (c) => this.notices.add(T.recordStopped(c, stopped, providerActor(c), this.ctx(c)), c, 'resolved'))
        : await this.write(e, (c) => T.recordChecked(c, st.kind === 'status' ? st.status.raw : undefined, this.ctx(c)));
    if (r.ok && stopped !== undefined) {
      run.tally.record('stopped_after_alert', e, `provider status ${stopped}`);
      this.log.info('seen stopped after the failed cancel', { executionId: e.id, connection: e.connection, providerStatus: stopped });
    }
    await this.notices.deliver(r.ok ? r.execution : e, run.tally);
  }

  /**
   * The sweep's guards around the cancel protocol: a policy's cancels count against
   * `maxCancelsPerSweep` (the slot is taken before any await, so parallel items cannot
   * overshoot), and no claim is taken when the invocation's time runs low.
   */
  private async enforce(e: Execution, run: Run, o: { reasons: StopReason[]; policyDecision: boolean; breachAt?: number | undefined }): Promise<void> {
    if (o.policyDecision) {
      if (run.policyCancels >= this.settings.maxCancelsPerSweep) {
        for (const t of this.policyOf(e).notify) run.heldBackTargets.add(t);
        return run.tally.record('held_back', e, `cap of ${this.settings.maxCancelsPerSweep} cancels per sweep reached`);
      }
      run.policyCancels++;
    }
    const claimed = await this.cancels.claimAndCancel(e, run.tally, {
      reasons: o.reasons,
      timeUp: run.timeLow,
      ...(o.breachAt !== undefined ? { breachAt: o.breachAt } : {}),
    });
    if (claimed !== 'claimed' && o.policyDecision) run.policyCancels--;
    if (claimed === 'deferred') run.tally.record('deferred', e, DEFERRED);
  }

  /**
   * The fail-safe rule for lost heartbeats (docs/sweep.md "Heartbeats the watchdog could not take"):
   * a run whose only breach is a lost heartbeat is not cancelled while
   *  - the webhook recorded that it could not take tracking requests (its own secret, store or
   *    throttle failed) within that run's heartbeat timeout, or
   *  - at least `heartbeatHoldMinRuns` heartbeat-tracked runs are silent at once and they are
   *    more than half of all heartbeat-tracked live runs (a mass loss is the watchdog's outage
   *    far more often than every run dying together).
   * Runtime, stall and cost limits are unaffected. One fleet view per sweep, only when needed.
   */
  private async heartbeatHoldReason(e: Execution, run: Run, now: number): Promise<string | undefined> {
    run.fleet ??= this.fleetView(now);
    const f = await run.fleet;
    const timeout = effectiveLimits(this.policyOf(e), e.limits).heartbeatTimeoutMs ?? 0;
    if (f.ingestFaultAt !== undefined && f.ingestFaultAt >= now - timeout)
      return `the webhook could not take tracking requests ${Math.round((now - f.ingestFaultAt) / 1000)}s ago (within the heartbeat timeout): heartbeats may not have reached the watchdog`;
    if (f.silent >= this.settings.heartbeatHoldMinRuns && f.silent * 2 > f.tracked)
      return `${f.silent} of ${f.tracked} heartbeat-tracked runs lost their heartbeats together: the watchdog's ingestion may be at fault`;
    return undefined;
  }

  /** The heartbeat-tracked live runs (at most FLEET_SAMPLE per state) and how many are silent, and the last ingest fault. */
  private async fleetView(now: number): Promise<FleetView> {
    const ingestFaultAt = await this.deps.probes?.lastIngestFault().catch((err: unknown) => {
      this.log.warn('could not read the ingest fault record', { error: redact((err as Error)?.message ?? String(err)) });
      return undefined;
    });
    let tracked = 0;
    let silent = 0;
    for (const state of ['running', 'warned'] as const) {
      const page = await this.deps.store.list({ state, limit: FLEET_SAMPLE });
      for (const x of page.items) {
        if (x.source === 'discovered') continue;
        const policy = this.policyOf(x);
        if (effectiveLimits(policy, x.limits).heartbeatTimeoutMs === undefined) continue;
        tracked++;
        const d = evaluate(x, policy, now);
        if (d.action === 'cancel' && d.reasons.includes('heartbeat')) silent++;
      }
    }
    return { ...(ingestFaultAt !== undefined ? { ingestFaultAt } : {}), tracked, silent };
  }

  /** Hold the run's lost-heartbeat cancel for HOLD_MS (looked at again then), counted; one alert per HOLD_ALERT_EVERY_MS across sweeps. */
  private async holdHeartbeat(e: Execution, run: Run, why: string): Promise<void> {
    const r = await this.write(e, (c) => T.holdHeartbeatCancel(c, this.now() + HOLD_MS, why, policyActor(c), this.ctx(c)));
    if (!r.ok) return;
    run.tally.record('heartbeat_held', e, why);
    this.log.error('lost-heartbeat cancel held', { executionId: e.id, connection: e.connection, reason: why });
    for (const t of this.policyOf(e).notify) run.heldHeartbeatTargets.add(t);
    run.heldWhy = why;
  }

  private async heartbeatHoldAlert(run: Run): Promise<void> {
    const held = run.tally.summary.heartbeatHeld;
    if (!this.cadence) return;
    if ((await this.cadence.claim(HOLD_ALERT_KEY, this.now(), HOLD_ALERT_EVERY_MS)) === false) return;
    const m = alertMessage(
      'heartbeats_held',
      { key: HOLD_INCIDENT, action: 'trigger' },
      `Heartbeats are not arriving: ${held} lost-heartbeat cancel(s) held`,
      `${run.heldWhy ?? ''}. The watchdog's ingestion may be at fault (the webhook's secrets, the store, throttling): check the WebhookServerErrors and WebhookThrottles alarms. Nothing is cancelled for a lost heartbeat until heartbeats arrive again; runtime, stall and cost limits still apply.`,
      { held },
    );
    await this.notices.alert(run.heldHeartbeatTargets, m, run.tally, 'heartbeat hold alert');
  }

  /** Every `settings.probeEvery`: probe each connection once (across sweeps); notice an incident and its recovery. */
  private async probeConnections(run: Run): Promise<void> {
    const cadence = this.cadence;
    const every = this.settings.probeEveryMs;
    if (!cadence || every <= 0) return;
    await Promise.all(
      [...this.deps.config.connections.keys()].map(async (connection) => {
        const now = this.now();
        if (run.timeLow()) return;
        try {
          const previous = await cadence.claim(connection, now, every);
          if (previous === false) return;
          let report: ProbeReport | undefined;
          try {
            const adapter = this.deps.providers.forConnection(connection);
            report = await this.calls.run(connection, () => probe(connection, adapter));
          } catch (err) {
            report = { connection, healthy: false, detail: redact((err as Error)?.message ?? String(err)) };
          }
          if (!report) return; // no status call: cannot be probed
          const changed = previous.healthy === undefined ? !report.healthy : previous.healthy !== report.healthy;
          report.changed = changed;
          run.tally.summary.probes.push(report);
          await cadence.ledger.record(connection, report.healthy, report.detail, now, changed);
          this.log[report.healthy ? 'info' : 'error']('connection probe', { connection, healthy: report.healthy, detail: report.detail });
          if (changed) await this.probeNotice(report, run);
        } catch (err) {
          run.tally.count('errors');
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
    const cadence = this.cadence;
    const every = this.settings.repairEveryMs;
    const now = this.now();
    if (!cadence || every <= 0 || run.timeLow()) return;
    try {
      if ((await cadence.claim(SAFETY_NET, now, every)) === false) return;
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
          run.tally.count('indexRepairs');
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
      await cadence.ledger.record(SAFETY_NET, true, `checked ${candidates.length} overdue`, now, false);
    } catch (err) {
      run.tally.count('errors');
      this.log.error('safety net failed', { error: redact((err as Error)?.message ?? String(err)) });
    }
  }

  /** Opt-in (settings.digest): once per period across sweeps, the report of that period to its targets. Last: never before enforcement. */
  private async digest(run: Run): Promise<void> {
    const d = this.settings.digest;
    const cadence = this.cadence;
    if (!d || !cadence || run.timeLow()) return;
    try {
      const now = this.now();
      if ((await cadence.claim(DIGEST, now, d.everyMs)) === false) return;
      const r = await buildReport({ store: this.deps.store, policyOf: (e) => this.policyOf(e) }, now - d.everyMs, now);
      await this.notices.alert(d.to, digestMessage(r, d.everyMs), run.tally, 'digest');
      await cadence.ledger.record(DIGEST, true, `report of ${r.since} → ${r.until} sent to ${d.to.join(', ')}`, now, false);
    } catch (err) {
      run.tally.count('errors');
      this.log.error('digest failed', { error: redact((err as Error)?.message ?? String(err)) });
    }
  }

  private async probeNotice(r: ProbeReport, run: Run): Promise<void> {
    const m: Message = r.healthy
      ? {
          ...alertMessage(
            'connection',
            connectionIncident(r.connection, 'resolve'),
            `Connection recovered: ${r.connection}`,
            `The probe of ${r.connection} succeeds again: ${r.detail}.`,
            {
              connection: r.connection,
              healthy: true,
            },
          ),
          severity: 'info',
        }
      : alertMessage(
          'connection',
          connectionIncident(r.connection, 'trigger'),
          `Connection unhealthy: ${r.connection}`,
          `The watchdog cannot use ${r.connection}: ${r.detail}. Cancels on it will fail until this is fixed (watchdog doctor checks it).`,
          { connection: r.connection, healthy: false },
        );
    const targets = new Set(this.deps.config.policies.flatMap((p) => p.notify));
    await this.notices.alert(targets, m, run.tally, 'probe notice');
  }

  private async capAlert(run: Run): Promise<void> {
    const heldBack = run.tally.summary.heldBackByCap;
    const m: Message = alertMessage(
      'cap_reached',
      { key: CAP_INCIDENT, action: 'trigger' },
      `Cancel cap reached: ${heldBack} runaway(s) held back`,
      `This sweep cancelled ${this.settings.maxCancelsPerSweep} executions (settings.maxCancelsPerSweep) and held back ${heldBack} more. They stay due and are retried by the next sweep; if this is a bad policy, set it to dry-run now.`,
      { heldBack, cap: this.settings.maxCancelsPerSweep, sweeper: this.holder },
    );
    this.log.error('cancel cap reached', { heldBack, cap: this.settings.maxCancelsPerSweep });
    await this.notices.alert(run.heldBackTargets, m, run.tally, 'cap alert');
  }

  /** Discover on one connection now, whatever its cadence (tests, benchmarks). */
  discoverNow(connection: string): Promise<DiscoveryRecord> {
    if (!this.discovery) throw new Error('discovery needs the probe ledger');
    return this.discovery.discover(connection, (c) => this.deps.providers.forConnection(c));
  }
}

interface Run {
  tally: Tally;
  preview: boolean;
  policyCancels: number;
  timeLow: () => boolean;
  heldBackTargets: Set<string>;
  heldHeartbeatTargets: Set<string>;
  heldWhy?: string;
  /** The fleet's heartbeat health, read once per sweep when a lost-heartbeat breach is seen. */
  fleet?: Promise<FleetView>;
}

interface FleetView {
  ingestFaultAt?: number;
  /** Heartbeat-tracked live runs seen, and those of them whose heartbeat is lost. */
  tracked: number;
  silent: number;
}

const DEFERRED = "sweep deadline reached before its turn (the next schedule, or the invocation's reserve): left due for the next sweep";

/** How long a held lost-heartbeat cancel waits before the sweep judges it again. */
const HOLD_MS = 2 * 60_000;
const HOLD_ALERT_KEY = '#heartbeat-hold';
/** Incident keys of the fleet's own trouble (docs/oncall.md). */
const HOLD_INCIDENT = 'watchdog/heartbeats-held';
const CAP_INCIDENT = 'watchdog/cancel-cap';
const connectionIncident = (connection: string, action: Incident['action']): Incident => ({ key: `watchdog/connection/${connection}`, action });
const HOLD_ALERT_EVERY_MS = 15 * 60_000;
/** Live runs read per state for the fleet view (the rule compares proportions; a sample of this size suffices). */
const FLEET_SAMPLE = 2_000;

const providerActor = (e: Execution) => ({ id: `provider:${e.connection}`, via: SWEEP_VIA });

function observation(s: ProviderStatus): T.Observation {
  return {
    raw: s.raw,
    ...(s.progress ? { fraction: s.progress.fraction } : {}),
    ...(s.progress?.done !== undefined ? { done: s.progress.done } : {}),
    ...(s.progress?.total !== undefined ? { total: s.progress.total } : {}),
  };
}
