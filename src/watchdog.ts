/**
 * The application service: config + store + clock. Every entry point (CLI, local runner,
 * Lambda handlers) goes through these methods, so validation and policy selection live
 * in one place.
 */
import * as z from 'zod';
import { type CompiledPolicy, FULL_SCOPE, type Scope, type WatchdogConfig, formatIssues, inScope, policyFor, selectPolicy } from './config/load.js';
import { Duration } from './config/schema.js';
import { parseDuration } from './core/duration.js';
import { executionId } from './core/ids.js';
import { type Actor, type AuditEvent, type Execution, type ExecutionState, HeartbeatInput, LabelKey, type LimitsMs } from './core/model.js';
import { type Policy, looseningErrors } from './core/policy.js';
import * as T from './core/transitions.js';
import { ConfigError, InputError, NotFoundError } from './errors.js';
import type { ExecutionStore, ListFilter, Page, WriteOutcome } from './store/types.js';
import { DynamoExecutionStore } from './store/dynamo.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

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
    policyFor: (e: Execution): Policy => policyFor(config, e),
  });
}

export class Watchdog {
  constructor(
    readonly config: WatchdogConfig,
    readonly store: ExecutionStore,
    readonly now: () => number = Date.now,
  ) {}

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
      { now: this.now(), policy, retentionMs: this.config.settings.retentionMs },
    );
    return this.store.track(execution);
  }

  private ctx(e: Execution): T.Ctx {
    return { now: this.now(), policy: this.policyOf(e), retentionMs: this.config.settings.retentionMs };
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

  /** Liveness, progress, cost. Who sent it is not recorded: heartbeats are not audited (README "Cost"). */
  async heartbeat(ref: string, body: unknown, scope: Scope = FULL_SCOPE): Promise<Execution> {
    const parsed = HeartbeatInput.safeParse(body ?? {});
    if (!parsed.success) throw inputError('invalid heartbeat', parsed.error);
    return this.change(ref, scope, 'heartbeat', (e) => T.applyHeartbeat(e, parsed.data, this.ctx(e)));
  }

  async finish(ref: string, actor: Actor, providerStatus?: string, scope: Scope = FULL_SCOPE): Promise<Execution> {
    return this.change(ref, scope, 'finish', (e) => T.markFinished(e, actor, this.ctx(e), providerStatus));
  }

  async extend(ref: string, duration: string, actor: Actor, reason?: string): Promise<Execution> {
    const ms = parseDuration(duration);
    if (ms === undefined) throw new InputError(`expected a duration like "30m", got ${JSON.stringify(duration)}`);
    return this.change(ref, FULL_SCOPE, 'extend', (e) => T.extend(e, ms, actor, this.ctx(e), reason));
  }

  /** Silence warnings for a while (capped by the policy's maxSnooze); limits still apply. */
  async snooze(ref: string, duration: string, actor: Actor): Promise<Execution> {
    const ms = parseDuration(duration);
    if (ms === undefined) throw new InputError(`expected a duration like "1h", got ${JSON.stringify(duration)}`);
    return this.change(ref, FULL_SCOPE, 'snooze', (e) => T.snooze(e, ms, actor, this.ctx(e)));
  }

  async show(ref: string, scope: Scope = FULL_SCOPE): Promise<{ execution: Execution; events: AuditEvent[] }> {
    const found = await this.store.getWithEvents(this.resolveId(ref));
    if (!found || !inScope(scope, found.execution)) throw new NotFoundError(`no tracked execution ${ref}`);
    return found;
  }

  list(filter: ListFilter): Promise<Page<Execution>> {
    return this.store.list(filter);
  }

  private expectChange(ref: string, out: WriteOutcome, what: string): Execution {
    if (out.ok) return out.execution;
    return this.explain(ref, out, what);
  }

  /** Turn a refused write into the error a person should read. */
  explain(ref: string, out: Exclude<WriteOutcome, { ok: true }>, what: string): never {
    switch (out.outcome) {
      case 'not_found':
        throw new NotFoundError(`no tracked execution ${ref}`);
      case 'terminal':
        throw new InputError(`${what} refused: execution ${ref} is already ${out.execution.state}`);
      case 'refused':
        throw new InputError(out.message);
      case 'claimed':
        throw new InputError(`${what} refused: a cancel of ${ref} is already in progress`);
      default:
        throw new InputError(`${what} refused: execution ${ref} is ${out.execution.state} (${out.outcome})`);
    }
  }
}

export type { ExecutionState };
