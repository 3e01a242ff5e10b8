/**
 * Wiring, once: config + a DynamoDB client → store, application service, provider and
 * notifier registries, sweeper. The CLI, the local runner and both Lambda handlers call
 * this, so there is one way the parts fit together.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WatchdogConfig } from './config/load.js';
import type { Log } from './log.js';
import { NotifierRegistry, type NotifierLookup } from './notify/registry.js';
import type { HttpOptions } from './providers/http.js';
import { ProviderRegistry } from './providers/registry.js';
import { AwsSecrets, FileSecrets, type SecretSource } from './secrets.js';
import { DynamoProbeLedger, type ProbeLedger } from './store/probes.js';
import { type CoverageRow, coverage } from './app/coverage.js';
import { DynamoReplayGuard, type ReplayGuard } from './store/replay.js';
import type { ExecutionStore } from './store/types.js';
import { type ProviderLookup, Sweeper } from './app/sweep.js';
import { Watchdog, storeFor } from './app/service.js';

/** The secrets file when the config names one (local), else Secrets Manager. */
export function secretsFor(config: WatchdogConfig): SecretSource {
  return config.settings.secretsFile ? new FileSecrets(config.settings.secretsFile) : new AwsSecrets();
}

export interface RuntimeOptions {
  client: DynamoDBClient;
  tableName?: string;
  secrets?: SecretSource;
  log?: Log;
  now?: () => number;
  /** The sweeper's id: the holder of its claims. */
  holder?: string;
  http?: HttpOptions;
  /** Replace the registries (tests, benchmarks). */
  providers?: ProviderLookup;
  notifiers?: NotifierLookup;
}

export interface Runtime {
  config: WatchdogConfig;
  secrets: SecretSource;
  /** The DynamoDB client and table everything here uses. */
  table: { client: DynamoDBClient; name: string };
  store: ExecutionStore;
  /** Accepted mutating webhook requests, so a copy inside the signature window changes nothing. */
  replay: ReplayGuard;
  watchdog: Watchdog;
  providers: ProviderLookup;
  notifiers: NotifierLookup;
  sweeper: Sweeper;
  /** Sweep-level bookkeeping: probes, the safety net, discovery records. */
  ledger: ProbeLedger;
  /** Per connection: running on the platform vs tracked (live: list each platform now). */
  coverage(o: { live: boolean; connections?: readonly string[] }): Promise<CoverageRow[]>;
}

export function buildRuntime(config: WatchdogConfig, o: RuntimeOptions): Runtime {
  const secrets = o.secrets ?? secretsFor(config);
  const tableName = o.tableName ?? config.settings.tableName;
  const store = storeFor(config, o.client, tableName);
  const now = o.now ?? Date.now;
  const providers = o.providers ?? new ProviderRegistry(config, secrets, o.http);
  const notifiers = o.notifiers ?? new NotifierRegistry(config, secrets);
  const ledger = new DynamoProbeLedger(o.client, tableName);
  const sweeper = new Sweeper({
    config,
    store,
    providers,
    notifiers,
    now,
    probes: ledger,
    ...(o.log ? { log: o.log } : {}),
    ...(o.holder ? { holder: o.holder } : {}),
  });
  return {
    config,
    secrets,
    table: { client: o.client, name: tableName },
    store,
    replay: new DynamoReplayGuard(o.client, tableName),
    watchdog: new Watchdog(config, store, now, sweeper.cancels, o.log),
    providers,
    notifiers,
    sweeper,
    ledger,
    coverage: (c) => coverage({ config, store, ledger, now, adapterFor: (name) => providers.forConnection(name) }, c),
  };
}
