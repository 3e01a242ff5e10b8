/**
 * Discovery: find the running executions nobody tracked. On each connection's `discover.every`
 * (claimed once across sweeps in the probe ledger), list the platform's running executions
 * page by page and track each one the store does not know, under the connection's discovery
 * policy, with `source: discovered` and the platform's own start time. Tracking is the same
 * conditional write a tracker's `track` makes, so sweeps discovering at once track a run once.
 *
 * Bounded: a time budget and a page budget per connection and sweep (settings), a cap on the
 * runs one listing may return, ids checked like a tracker's. A list that fails is reported
 * (the connection's discovery record, a metric, a log line), never a sweep error. The sweep
 * runs discovery after enforcement, so it never delays a warning or a cancel.
 */
import type { WatchdogConfig } from '../config/load.js';
import { policyByName } from '../config/load.js';
import { parseDuration } from '../core/duration.js';
import { executionId } from '../core/ids.js';
import type { Actor } from '../core/model.js';
import * as T from '../core/transitions.js';
import { type Log, redact } from '../log.js';
import type { ListedRun, ProviderAdapter } from '../providers/types.js';
import { type DiscoveryRecord, discoveryKey } from '../store/probes.js';
import type { Cadence } from './cadence.js';
import type { ExecutionStore } from '../store/types.js';
import { forEachLimit } from './limiter.js';

/** Most runs one listing returns (every page together): a platform answering garbage cannot fill the table. */
export const MAX_LISTED = 100_000;
const TRACK_CONCURRENCY = 16;

export interface Listing {
  runs: ListedRun[];
  pages: number;
  skipped: number;
  complete: boolean;
  error?: string;
}

class BudgetExhausted extends Error {}

/** Resolve `p`, or reject when `deadline` passes first (the call itself is left to its own timeouts). */
function beforeDeadline<T>(p: Promise<T>, deadline: number, now: () => number): Promise<T> {
  const left = deadline - now();
  if (left <= 0) return Promise.reject(new BudgetExhausted());
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BudgetExhausted()), left);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Every page of a platform's running executions, within the budgets: one provider call per
 * page; a cursor that repeats, a page budget or the deadline ends the walk (`complete: false`).
 */
export async function listRunning(adapter: ProviderAdapter, o: { maxPages: number; deadline: number; now: () => number }): Promise<Listing> {
  const list = adapter.list?.bind(adapter);
  if (!list) return { runs: [], pages: 0, skipped: 0, complete: false, error: `${adapter.id} documents no list of executions` };
  const seen = new Set<string>();
  const cursors = new Set<string>();
  const runs: ListedRun[] = [];
  let skipped = 0;
  let pages = 0;
  let cursor: string | undefined;
  for (;;) {
    if (pages >= o.maxPages) return { runs, pages, skipped, complete: false, error: `stopped after ${pages} pages (settings.discoveryMaxPages)` };
    let page: Awaited<ReturnType<typeof list>>;
    try {
      page = await beforeDeadline(list(cursor), o.deadline, o.now);
    } catch (err) {
      if (err instanceof BudgetExhausted)
        return { runs, pages, skipped, complete: false, error: `time budget spent after ${pages} pages (settings.discoveryBudget)` };
      throw err;
    }
    pages++;
    if (page.kind !== 'page') {
      const detail = 'error' in page ? page.error : 'httpStatus' in page ? `HTTP ${page.httpStatus}` : page.kind;
      return { runs, pages, skipped, complete: false, error: `list failed (${page.kind}): ${detail}` };
    }
    skipped += page.skipped;
    for (const r of page.runs) {
      if (seen.has(r.externalId)) continue; // a list that moved between pages repeats a run
      if (runs.length >= MAX_LISTED) return { runs, pages, skipped, complete: false, error: `more than ${MAX_LISTED} running executions listed` };
      seen.add(r.externalId);
      runs.push(r);
    }
    if (page.next === undefined) return { runs, pages, skipped, complete: true };
    if (cursors.has(page.next)) return { runs, pages, skipped, complete: false, error: 'the list repeated a page cursor: stopped' };
    cursors.add(page.next);
    cursor = page.next;
  }
}

export type TrackedBy = 'tracker' | 'discovery' | 'nobody';

/** Who tracks each listed run (in order): its tracker, discovery, or nobody. One batch read per 100 runs. */
export async function whoTracks(store: ExecutionStore, connection: string, runs: readonly ListedRun[]): Promise<TrackedBy[]> {
  const ids = runs.map((r) => executionId(connection, r.externalId));
  const known = await store.known(ids);
  return ids.map((id) => {
    const source = known.get(id);
    return source === undefined ? 'nobody' : source === 'discovered' ? 'discovery' : 'tracker';
  });
}

export const countOf = (by: readonly TrackedBy[], who: TrackedBy): number => by.filter((b) => b === who).length;

export interface DiscoveryDeps {
  config: WatchdogConfig;
  store: ExecutionStore;
  /** Claims each connection's cadence; its ledger keeps the reports. */
  cadence: Cadence;
  log: Log;
  now: () => number;
}

export class Discovery {
  constructor(private readonly deps: DiscoveryDeps) {}

  /** Connections declaring `discover`. */
  connections(): string[] {
    return [...this.deps.config.connections].filter(([, c]) => c.discover !== undefined).map(([name]) => name);
  }

  /** Discover on every connection whose cadence has come (claimed across sweeps); one record per connection run. */
  async runDue(adapterFor: (connection: string) => ProviderAdapter, timeLow: () => boolean): Promise<DiscoveryRecord[]> {
    const out: DiscoveryRecord[] = [];
    await Promise.all(
      this.connections().map(async (connection) => {
        const every = parseDuration(this.deps.config.connections.get(connection)?.discover?.every ?? '5m') ?? 300_000;
        const now = this.deps.now();
        if (timeLow()) return;
        try {
          if ((await this.deps.cadence.claim(discoveryKey(connection), now, every)) === false) return;
        } catch (err) {
          this.deps.log.error('discovery: could not claim', { connection, error: redact((err as Error)?.message ?? String(err)) });
          return;
        }
        out.push(await this.discover(connection, adapterFor));
      }),
    );
    return out;
  }

  /** One run of discovery on one connection, recorded in the ledger. Never throws. */
  async discover(connection: string, adapterFor: (connection: string) => ProviderAdapter): Promise<DiscoveryRecord> {
    const { config, store, log } = this.deps;
    const now = this.deps.now;
    const startedAt = now();
    const deadline = startedAt + config.settings.discoveryBudgetMs;
    const c = config.connections.get(connection);
    const record: DiscoveryRecord = {
      connection,
      at: startedAt,
      durationMs: 0,
      running: 0,
      tracked: 0,
      byDiscovery: 0,
      discovered: 0,
      untracked: 0,
      untrackedIds: [],
      pages: 0,
      skipped: 0,
      complete: false,
    };
    try {
      const policy = policyByName(config, c?.discover?.policy ?? config.defaultPolicy);
      if (!c || !policy) throw new Error(`connection ${connection} has no discovery policy`);
      const listing = await listRunning(adapterFor(connection), { maxPages: config.settings.discoveryMaxPages, deadline, now });
      Object.assign(record, { running: listing.runs.length, pages: listing.pages, skipped: listing.skipped, complete: listing.complete });
      if (listing.error) record.error = redact(listing.error);
      const by = await whoTracks(store, connection, listing.runs);
      const fresh = listing.runs.filter((_, i) => by[i] === 'nobody');
      record.tracked = countOf(by, 'tracker');
      record.byDiscovery = countOf(by, 'discovery');
      const actor: Actor = { id: `discovery:${connection}`, via: 'sweep' };
      const untracked: string[] = [];
      await forEachLimit(fresh, TRACK_CONCURRENCY, async (run) => {
        if (now() >= deadline) {
          untracked.push(run.externalId);
          return;
        }
        try {
          const e = T.newExecution(
            {
              connection,
              provider: c.provider,
              externalId: run.externalId,
              policy: policy.name,
              labels: { ...(c.discover?.labels ?? {}) },
              source: 'discovered',
              actor,
              ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
            },
            { now: now(), policy, retentionMs: config.settings.retentionMs },
          );
          const r = await store.track(e);
          if (r.created) record.discovered++;
          record[r.execution.source === 'discovered' ? 'byDiscovery' : 'tracked']++;
        } catch (err) {
          untracked.push(run.externalId);
          record.error ??= `could not track: ${redact((err as Error)?.message ?? String(err))}`;
        }
      });
      record.untracked = untracked.length;
      record.untrackedIds = untracked;
      if (untracked.length > 0) record.complete = false;
    } catch (err) {
      record.complete = false;
      record.error = redact((err as Error)?.message ?? String(err));
    }
    record.durationMs = now() - startedAt;
    log[record.error ? 'error' : 'info']('discovery', { ...record, untrackedIds: record.untrackedIds.slice(0, 10) });
    try {
      await this.deps.cadence.ledger.recordDiscovery(record);
    } catch (err) {
      log.error('discovery: could not record the report', { connection, error: redact((err as Error)?.message ?? String(err)) });
    }
    return record;
  }
}
