/**
 * The application service: every operation a person or a system can ask for — track,
 * heartbeat, finish, cancel, extend, snooze, show, list — and who may ask (`authorize`).
 * Every entry point (CLI, chat, the tracking API, the local runner, the Lambda handlers)
 * goes through these methods, so validation, policy selection and rights live in one place.
 * A cancel is the same protocol the sweep uses (cancel.ts).
 */
import * as z from 'zod';
import { type CompiledPolicy, FULL_SCOPE, type Scope, type WatchdogConfig, formatIssues, inScope, policyFor, selectPolicy } from '../config/load.js';
import { Duration } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import { executionId } from '../core/ids.js';
import {
  type Actor,
  type AuditEvent,
  type Execution,
  type ReplyTo,
  type ExecutionState,
  HeartbeatInput,
  LabelKey,
  type LimitsMs,
  type StopReason,
  isTerminal,
} from '../core/model.js';
import { gate } from '../core/approval.js';
import { breachAt, evaluate, looseningErrors, looserThan } from '../core/policy.js';
import * as T from '../core/transitions.js';
import { ConfigError, ConflictError, InputError, NotFoundError } from '../errors.js';
import type { ExecutionStore, ListFilter, Page, WriteOutcome } from '../store/types.js';
import { DynamoExecutionStore } from '../store/dynamo.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Log, redact, silentLog } from '../log.js';
import type { CancelProtocol } from './cancel.js';
import { contextFor, ctxWith } from './context.js';
import { Tally, emptySummary } from './summary.js';

/** A person (or a signed hook) asking from chat: the tool, who, and where. */
export interface Who {
  tool: 'slack' | 'discord' | 'teams' | 'hook';
  userId: string;
  channelId?: string;
  /** The display name the request carried (Teams): shown to people; the audit keeps the id. */
  name?: string;
}

export type Right = 'view' | 'act';

/**
 * The one authorization rule for people. Acting (cancel, extend, snooze) needs the person or
 * the channel in the policy's `allow`; seeing (status, list, coverage) needs `allow` or
 * `view`. Signed hooks act for the operator who holds the signing secret.
 */
export function authorize(who: Who, right: Right, policy: CompiledPolicy): boolean {
  if (who.tool === 'hook') return true;
  const listed = (l: { readonly users: readonly string[]; readonly channels: readonly string[] }) =>
    l.users.includes(who.userId) || (who.channelId !== undefined && l.channels.includes(who.channelId));
  return listed(policy.allow) || (right === 'view' && listed(policy.view));
}

export type CancelNowResult =
  | { status: 'done'; execution: Execution; settled: Promise<Execution> }
  /** Still running at the end of the budget: `settled` resolves when it is (or the sweep takes over). */
  | { status: 'in_progress'; execution: Execution; settled: Promise<Execution> };

const Timestamp = z.union([z.number().int().positive(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

export const TrackRequest = z.strictObject({
  connection: z.string().min(1),
  externalId: z.string().min(1).max(1024),
  policy: z.string().optional(),
  labels: z.record(LabelKey, z.string().max(256)).optional(),
  owner: z.string().max(256).optional(),
  /** ISO 8601 or epoch ms; defaults to now. */
  startedAt: Timestamp.optional(),
  limits: z
    .strictObject({
      maxRuntime: Duration.optional(),
      stallAfter: Duration.optional(),
      heartbeatTimeout: Duration.optional(),
      maxCostUsd: z.number().positive().optional(),
    })
    .optional(),
});
export type TrackRequest = z.input<typeof TrackRequest>;

/** The body of a finish: the platform's own final status, optional. */
export const FinishRequest = z.strictObject({ status: z.string().max(64).optional() });

function inputError(prefix: string, err: z.ZodError): InputError {
  return new InputError(`${prefix}: ${formatIssues(err.issues, '(body)').join('; ')}`);
}

export function storeFor(config: WatchdogConfig, client: DynamoDBClient, tableName = config.settings.tableName): DynamoExecutionStore {
  return new DynamoExecutionStore({
    client,
    tableName,
    shards: config.settings.shards,
    retentionMs: config.settings.retentionMs,
  });
}

export class Watchdog {
  private readonly ctx: (e: Execution) => T.Ctx;

  constructor(
    readonly config: WatchdogConfig,
    readonly store: ExecutionStore,
    readonly now: () => number = Date.now,
    /** The cancel protocol (the sweeper's): without it, cancels are only requested. */
    private readonly cancels?: CancelProtocol,
    private readonly log: Log = silentLog,
  ) {
    this.ctx = contextFor(config, now);
  }

  /** May this person view or act on this execution (its policy's allow / view lists)? */
  authorize(who: Who, right: Right, e: Execution): boolean {
    return authorize(who, right, this.policyOf(e));
  }

  policyOf(e: Execution): CompiledPolicy {
    return policyFor(this.config, e);
  }

  /** `wd_…` ids pass through; `<connection>/<externalId>` is hashed to the id. */
  resolveId(ref: string): string {
    if (/^wd_[a-z0-9]{12}$/.test(ref)) return ref;
    const slash = ref.indexOf('/');
    if (slash > 0 && this.config.connections.has(ref.slice(0, slash))) return executionId(ref.slice(0, slash), ref.slice(slash + 1));
    throw new InputError(`"${ref}" is not an execution id: expected wd_… or <connection>/<externalId>`);
  }

  /**
   * Track an execution. With a scope (a tracking-API key), connections outside it read as
   * unknown, and the execution must carry the scope's labels.
   */
  async track(body: unknown, actor: Actor, scope: Scope = FULL_SCOPE): Promise<{ created: boolean; execution: Execution }> {
    const parsed = TrackRequest.safeParse(body);
    if (!parsed.success) throw inputError('invalid track request', parsed.error);
    const req = parsed.data;
    const connection = this.config.connections.get(req.connection);
    if (!connection || !inScope({ connections: scope.connections }, { connection: req.connection })) {
      const known = [...this.config.connections.keys()].filter((c) => inScope({ connections: scope.connections }, { connection: c }));
      throw new InputError(`unknown connection ${JSON.stringify(req.connection.slice(0, 80))}; expected one of ${known.join(', ')}`);
    }
    if (!inScope(scope, { connection: req.connection, labels: req.labels ?? {} })) {
      throw new InputError(
        `this key tracks only executions labelled ${Object.entries(scope.labels ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
      );
    }
    let policy: CompiledPolicy;
    try {
      policy = selectPolicy(this.config, {
        connection: req.connection,
        ...(req.policy ? { policy: req.policy } : {}),
        ...(req.labels ? { labels: req.labels } : {}),
      });
    } catch (err) {
      if (err instanceof ConfigError) throw new InputError(err.message);
      throw err;
    }
    if (req.policy !== undefined && scope !== FULL_SCOPE) this.checkPolicyInScope(policy, req, scope);
    const limits: LimitsMs = {};
    if (req.limits?.maxRuntime) limits.maxRuntimeMs = parseDuration(req.limits.maxRuntime);
    if (req.limits?.stallAfter) limits.stallAfterMs = parseDuration(req.limits.stallAfter);
    if (req.limits?.heartbeatTimeout) limits.heartbeatTimeoutMs = parseDuration(req.limits.heartbeatTimeout);
    if (req.limits?.maxCostUsd !== undefined) limits.maxCostUsd = req.limits.maxCostUsd;
    const loosening = looseningErrors(policy, limits);
    if (loosening.length > 0) throw new InputError(`limits rejected: ${loosening.join('; ')}`);
    const execution = T.newExecution(
      {
        connection: req.connection,
        provider: connection.provider,
        externalId: req.externalId,
        policy: policy.name,
        actor,
        limits,
        ...(req.labels ? { labels: req.labels } : {}),
        ...(req.owner ? { owner: req.owner } : {}),
        ...(req.startedAt ? { startedAt: req.startedAt } : {}),
      },
      ctxWith(this.config, policy, this.now()),
    );
    const r = await this.store.track(execution);
    // Re-tracking returns what exists only to a caller who may see it: a run tracked outside
    // this key's scope is refused without a word about it (no state, policy, labels, owner).
    if (!r.created && !inScope(scope, r.execution)) {
      throw new ConflictError('tracked_elsewhere', "this connection and externalId are already tracked, outside this key's scope");
    }
    return r;
  }

  /**
   * A scoped key names a policy: one its scope lists, else the policy the config would match
   * for this run or one at least as strict. Per-run limits may only tighten; so may the policy.
   */
  private checkPolicyInScope(policy: CompiledPolicy, req: z.infer<typeof TrackRequest>, scope: Scope): void {
    if (scope.policies !== undefined) {
      if (scope.policies.has(policy.name)) return;
      throw new InputError(`policy "${policy.name}" is not one this key may name; expected one of ${[...scope.policies].join(', ')}`);
    }
    const matched = selectPolicy(this.config, { connection: req.connection, ...(req.labels ? { labels: req.labels } : {}) });
    const looser = looserThan(policy, matched);
    if (looser.length > 0)
      throw new InputError(
        `policy "${policy.name}" is looser than "${matched.name}", the policy for this run (${looser.join(', ')}); this key may name it or a stricter one (webhook.api.keys[].policies lists others)`,
      );
  }

  /**
   * Apply a transition to an execution the caller may see. Outside the scope reads exactly
   * like not tracked (404, not 403): a key learns nothing about executions it does not own.
   * The read is the one the conditional write needs anyway.
   */
  private async change(ref: string, scope: Scope, what: string, fn: (e: Execution) => T.Transition): Promise<Execution> {
    const id = this.resolveId(ref);
    const current = await this.store.get(id);
    if (!current || !inScope(scope, current)) throw new NotFoundError(`no tracked execution ${ref}`);
    return this.expectChange(ref, await this.store.mutate(id, fn, current), what);
  }

  /**
   * Liveness, progress, cost. Who sent it is not recorded: heartbeats are not audited
   * (docs/cost.md). `sentAt`: the request's signed timestamp (ms), which orders v2-signed heartbeats.
   * A stale one (older than the last applied, or a copy) is acknowledged with the execution
   * as it stands.
   */
  async heartbeat(ref: string, body: unknown, scope: Scope = FULL_SCOPE, sentAt?: number): Promise<Execution> {
    const parsed = HeartbeatInput.safeParse(body ?? {});
    if (!parsed.success) throw inputError('invalid heartbeat', parsed.error);
    return this.change(ref, scope, 'heartbeat', (e) => T.applyHeartbeat(e, parsed.data, this.ctx(e), sentAt));
  }

  async finish(ref: string, actor: Actor, providerStatus?: string, scope: Scope = FULL_SCOPE): Promise<Execution> {
    return this.change(ref, scope, 'finish', (e) => T.markFinished(e, actor, this.ctx(e), providerStatus));
  }

  async extend(ref: string, duration: string, actor: Actor, reason?: string): Promise<Execution> {
    const ms = parseDuration(duration);
    if (ms === undefined) throw new InputError(`expected a duration like "30m", got ${JSON.stringify(duration)}`);
    return this.change(ref, FULL_SCOPE, 'extend', (e) => T.extend(e, ms, actor, this.ctx(e), reason));
  }

  /**
   * "Keep running" (approval mode): an extension of `duration`, capped by what is left of the
   * policy's maxExtension, that answers a waiting approval request.
   */
  async keep(ref: string, duration: string, actor: Actor): Promise<Execution> {
    const ms = parseDuration(duration);
    if (ms === undefined) throw new InputError(`expected a duration like "1h", got ${JSON.stringify(duration)}`);
    return this.change(ref, FULL_SCOPE, 'keep', (e) => T.keep(e, ms, actor, this.ctx(e)));
  }

  /** Silence warnings for a while (capped by the policy's maxSnooze); limits still apply. */
  async snooze(ref: string, duration: string, actor: Actor): Promise<Execution> {
    const ms = parseDuration(duration);
    if (ms === undefined) throw new InputError(`expected a duration like "1h", got ${JSON.stringify(duration)}`);
    return this.change(ref, FULL_SCOPE, 'snooze', (e) => T.snooze(e, ms, actor, this.ctx(e)));
  }

  /** A person's cancel, recorded only: `cancel_requested`, due now (the sweep or a follow-up carries it out). */
  requestCancel(id: string, actor: Actor, reason: string | undefined): Promise<WriteOutcome> {
    return this.store.mutate(id, (c) => T.requestCancel(c, ['manual'], actor, this.ctx(c), reason ? `${reason}` : 'manual cancel'));
  }

  /**
   * A person's cancel (CLI, chat, hook): request it, then claim and cancel right away
   * within `budgetMs`. Past the budget the work goes on (locally) or is left to the next
   * sweep (Lambda): the execution is cancel_requested and due now either way.
   */
  async cancelNow(id: string, actor: Actor, reason: string | undefined, budgetMs = 2_000): Promise<Exclude<WriteOutcome, { ok: true }> | CancelNowResult> {
    const requested = await this.requestCancel(id, actor, reason);
    if (!requested.ok) return requested;
    const cancels = this.cancels;
    const work = (cancels ? cancels.claimAndCancel(requested.execution, this.scratch(cancels), { reasons: ['manual'] }) : Promise.resolve()).then(
      () => undefined,
      (err: Error) => this.log.error('manual cancel failed', { executionId: id, error: redact(err.message) }),
    );
    const settled = work.then(async () => (await this.store.get(id)) ?? requested.execution);
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

  /**
   * The person who asked for a cancel waits for its outcome where they asked: remembered on
   * the execution, so the outcome notice goes there too. Returns the execution: still live
   * (they will hear), or already ended (the caller tells them now; nothing is remembered).
   */
  async awaitOutcome(id: string, reply: ReplyTo): Promise<Execution | undefined> {
    const out = await this.store.mutate(id, (c) => T.awaitOutcome(c, reply, this.ctx(c)));
    if (out.ok) return out.execution;
    return 'execution' in out ? out.execution : undefined;
  }

  /**
   * Carry out a requested cancel (a follow-up in Lambda): claim and call the provider when it
   * is still `cancel_requested` and not backing off; when someone else holds the claim, wait
   * for their outcome until `waitMs`. Returns the execution as it stands then.
   */
  async carryOutCancel(id: string, waitMs: number): Promise<Execution | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let cur = await this.store.get(id);
      if (!cur || isTerminal(cur.state)) return cur;
      if (this.cancels && cur.state === 'cancel_requested' && (cur.nextAttemptAt === undefined || cur.nextAttemptAt <= this.now())) {
        await this.cancels.claimAndCancel(cur, this.scratch(this.cancels), { reasons: cur.stopReasons ?? ['manual'] });
        cur = await this.store.get(id);
        // Ended; accepted and taking effect on the platform's side (only the sweep's status read
        // moves it on); or backing off before a retry (the sweep's): as it stands. Only a claim
        // someone else took first is waited on.
        if (!cur || cur.state !== 'cancelling' || cur.cancelAcceptedAt !== undefined) return cur;
      }
      if (Date.now() >= deadline) return cur;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * A breach a heartbeat reported (cost past its limit, a finish that says otherwise): the
   * policy's cancel now, through the one claim protocol, rather than at the next pass.
   * Whoever gets there first (this, a sweep) claims; the other finds nothing to claim.
   * Dry-run policies and held lost-heartbeat cancels are left to the sweep.
   */
  async enforceNow(id: string): Promise<Execution | undefined> {
    const cur = await this.store.get(id);
    const breach = cur && this.enforceableBreach(cur);
    if (!cur || !this.cancels || !breach) return cur;
    await this.cancels.claimAndCancel(cur, this.scratch(this.cancels), breach);
    return this.store.get(id);
  }

  /**
   * The breach a run reports that may be enforced now, outside a sweep: a cancel (not
   * dry-run) of a live run, and not for lost heartbeats alone (those are the sweep's to judge,
   * with the fleet rule). Undefined otherwise.
   */
  enforceableBreach(e: Execution, now = this.now()): { reasons: StopReason[]; breachAt?: number } | undefined {
    if (e.state !== 'running' && e.state !== 'warned') return undefined;
    const policy = this.policyOf(e);
    const d = evaluate(e, policy, now);
    if (d.action !== 'cancel' || d.dryRun || T.onlyHeartbeat(d.reasons)) return undefined;
    // Approval mode: people are asked first (the sweep asks); only the hard ceiling cancels now.
    if (gate(e, policy, d.reasons, now).kind !== 'cancel') return undefined;
    const at = breachAt(e, policy, d.reasons, now);
    return { reasons: d.reasons, ...(at === undefined ? {} : { breachAt: at }) };
  }

  /** A person's cancel is no sweep: its counts go nowhere. */
  private scratch(cancels: CancelProtocol): Tally {
    return new Tally(emptySummary(cancels.holder, this.now(), false));
  }

  async show(ref: string, scope: Scope = FULL_SCOPE): Promise<{ execution: Execution; events: AuditEvent[] }> {
    const found = await this.store.getWithEvents(this.resolveId(ref));
    if (!found || !inScope(scope, found.execution)) throw new NotFoundError(`no tracked execution ${ref}`);
    return found;
  }

  /** A page of executions, in tracking order (the earliest tracked first). */
  async list(filter: ListFilter): Promise<Page<Execution>> {
    const page = await this.store.list(filter);
    page.items.sort((a, b) => a.trackedAt - b.trackedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return page;
  }

  private expectChange(ref: string, out: WriteOutcome, what: string): Execution {
    if (out.ok) return out.execution;
    // A stale heartbeat (older than the last applied, or a copy) is acknowledged, unchanged.
    if (out.outcome === 'stale') return out.execution;
    return this.explain(ref, out, what);
  }

  /** Turn a refused write into the error a person should read. */
  explain(ref: string, out: Exclude<WriteOutcome, { ok: true }>, what: string): never {
    switch (out.outcome) {
      case 'not_found':
        throw new NotFoundError(`no tracked execution ${ref}`);
      case 'terminal':
        throw new ConflictError(
          'execution_ended',
          `${what} refused: execution ${ref} is already ${out.execution.state}${endedBy(out.execution)}`,
          out.execution,
        );
      case 'refused':
        throw new InputError(out.message);
      case 'cancel_in_progress':
      case 'lease_held':
        throw new ConflictError('cancel_in_progress', `${what} refused: a cancel of ${ref} is already in progress`);
      default:
        throw new ConflictError('state_conflict', `${what} refused: execution ${ref} is ${out.execution.state} (${out.outcome})`);
    }
  }
}

export type { ExecutionState };

/** " (by policy:nightly: runtime)": who stopped an ended execution and why, when known. */
function endedBy(e: Execution): string {
  if (e.state === 'finished' || !e.requestedBy) return '';
  const why = e.stopReasons?.length ? `: ${e.stopReasons.join(', ')}` : '';
  return ` (by ${e.requestedBy.id}${why})`;
}
