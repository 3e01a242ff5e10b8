/**
 * Coverage: per connection, what runs on the platform against what the watchdog tracks.
 * `live` lists each platform now (the CLI; bounded like discovery); otherwise the latest
 * discovery record of each connection is read (chat, which must answer within seconds).
 */
import type { WatchdogConfig } from '../config/load.js';
import { redact } from '../log.js';
import { listsRunning } from '../providers/known.js';
import type { ProviderAdapter } from '../providers/types.js';
import type { DiscoveryRecord, ProbeLedger } from '../store/probes.js';
import type { ExecutionStore } from '../store/types.js';
import { type TrackedBy, countOf, listRunning, whoTracks } from './discovery.js';

export interface CoverageRow {
  connection: string;
  provider: string;
  /** The platform documents (or the config declares) a list of running executions. */
  listable: boolean;
  /** Discovery is on for this connection: its cadence and policy. */
  discover?: { every: string; policy: string };
  /** As listed now (live) or at the last discovery: running on the platform … */
  running?: number;
  /** … of which tracked by a tracker, */
  tracked?: number;
  /** … tracked only because discovery found them, */
  byDiscovery?: number;
  /** … and not tracked at all (external ids, the first 50). */
  untracked?: string[];
  untrackedCount?: number;
  /** The listing read every page. */
  complete?: boolean;
  /** When discovery last ran here (epoch ms). */
  lastDiscoveryAt?: number;
  /** Live only: each running run and who tracks it (the first RUNS_KEPT). */
  runs?: Array<{ externalId: string; trackedBy: TrackedBy }>;
  error?: string;
}

export const isListable = (config: WatchdogConfig, provider: string): boolean => listsRunning(provider, (p) => config.providers.get(p)?.list !== undefined);

export interface CoverageDeps {
  config: WatchdogConfig;
  store: ExecutionStore;
  ledger: ProbeLedger;
  adapterFor: (connection: string) => ProviderAdapter;
  now?: () => number;
}

const KEPT = 50;
export const RUNS_KEPT = 1000;

export async function coverage(d: CoverageDeps, o: { live: boolean; connections?: readonly string[] }): Promise<CoverageRow[]> {
  const names = o.connections ?? [...d.config.connections.keys()];
  const records = new Map((await d.ledger.discoveries(names)).map((r) => [r.connection, r]));
  const now = d.now ?? Date.now;
  return Promise.all(
    names.map(async (connection): Promise<CoverageRow> => {
      const c = d.config.connections.get(connection);
      if (!c) return { connection, provider: '?', listable: false, error: 'unknown connection' };
      const row: CoverageRow = { connection, provider: c.provider, listable: isListable(d.config, c.provider) };
      if (c.discover) row.discover = { every: c.discover.every, policy: c.discover.policy ?? d.config.defaultPolicy };
      const last: DiscoveryRecord | undefined = records.get(connection);
      if (last) row.lastDiscoveryAt = last.at;
      if (!row.listable) return row;
      if (!o.live) {
        if (last) Object.assign(row, fromRecord(last));
        return row;
      }
      try {
        const listing = await listRunning(d.adapterFor(connection), {
          maxPages: d.config.settings.discoveryMaxPages,
          deadline: now() + d.config.settings.discoveryBudgetMs,
          now,
        });
        const by = await whoTracks(d.store, connection, listing.runs);
        const untracked = listing.runs.filter((_, i) => by[i] === 'nobody').map((r) => r.externalId);
        Object.assign(row, {
          running: listing.runs.length,
          tracked: countOf(by, 'tracker'),
          byDiscovery: countOf(by, 'discovery'),
          runs: listing.runs.slice(0, RUNS_KEPT).map((r, i) => ({ externalId: r.externalId, trackedBy: by[i]! })),
          untracked: untracked.slice(0, KEPT),
          untrackedCount: untracked.length,
          complete: listing.complete,
          ...(listing.error ? { error: redact(listing.error) } : {}),
        });
      } catch (err) {
        row.error = redact((err as Error)?.message ?? String(err));
      }
      return row;
    }),
  );
}

function fromRecord(r: DiscoveryRecord): Partial<CoverageRow> {
  return {
    running: r.running,
    tracked: r.tracked,
    byDiscovery: r.byDiscovery,
    untracked: r.untrackedIds,
    untrackedCount: r.untracked,
    complete: r.complete,
    ...(r.error ? { error: r.error } : {}),
  };
}
