/** The only place that knows every provider. An unknown id lists the valid ones. */
import type { WatchdogConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import type { SecretSource } from '../secrets.js';
import { readSecretField } from '../secrets.js';
import { type AdapterSpec, type Credentials, createAdapter } from './adapter.js';
import { catalyzed } from './catalyzed.js';
import { genericHttpSpec } from './generic-http.js';
import type { HttpOptions } from './http.js';
import { ionworks } from './ionworks.js';
import { type BuiltinProvider, isBuiltinProvider } from './known.js';
import { kodexa } from './kodexa.js';
import { meibel } from './meibel.js';
import { superglue } from './superglue.js';
import type { ProviderAdapter } from './types.js';

export const BUILTIN: Record<BuiltinProvider, { spec: AdapterSpec; baseUrl: string }> = {
  catalyzed: { spec: catalyzed, baseUrl: 'https://api.catalyzed.ai' },
  kodexa: { spec: kodexa, baseUrl: 'https://platform.kodexa.ai' },
  ionworks: { spec: ionworks, baseUrl: 'https://api.ionworks.com' },
  superglue: { spec: superglue, baseUrl: 'https://api.superglue.ai/v1' },
  meibel: { spec: meibel, baseUrl: 'https://api.meibel.ai/v2' },
};

export function specFor(config: WatchdogConfig | undefined, provider: string): { spec: AdapterSpec; baseUrl?: string } {
  if (isBuiltinProvider(provider)) return BUILTIN[provider];
  const generic = config?.providers.get(provider);
  if (generic) return { spec: genericHttpSpec(provider, generic), ...(generic.baseUrl ? { baseUrl: generic.baseUrl } : {}) };
  const known = [...Object.keys(BUILTIN), ...(config?.providers.keys() ?? [])];
  throw new ConfigError([`unknown provider "${provider}"; expected one of ${known.join(', ')}`]);
}

export function secretCredentials(secrets: SecretSource, name: string): Credentials {
  return {
    apiKey: () => readSecretField(secrets, name, 'apiKey'),
    refresh: () => readSecretField(secrets, name, 'apiKey', { fresh: true }),
  };
}

export interface AdapterOverrides {
  baseUrl?: string;
  credentials?: Credentials;
}

/** Adapters per connection, built lazily and kept (one keep-alive pool per origin). */
export class ProviderRegistry {
  private readonly cache = new Map<string, ProviderAdapter>();
  constructor(
    private readonly config: WatchdogConfig,
    private readonly secrets: SecretSource,
    private readonly http: HttpOptions = {},
  ) {
    // One pool per provider origin, as many connections as the sweep may have calls in flight.
    this.http = { connections: config.settings.providerConcurrency, ...http };
  }

  forConnection(connection: string): ProviderAdapter {
    let a = this.cache.get(connection);
    if (a) return a;
    a = this.build(connection);
    this.cache.set(connection, a);
    return a;
  }

  /**
   * An adapter for a connection, or for a bare provider id when overrides supply the
   * credentials (and a base URL where the provider has no public default). Not cached.
   */
  build(target: string, overrides: AdapterOverrides = {}): ProviderAdapter {
    const c = this.config.connections.get(target);
    if (!c && !overrides.credentials) {
      const isProvider = isBuiltinProvider(target) || this.config.providers.has(target);
      throw new ConfigError([
        isProvider
          ? `"${target}" is a provider, not a connection: pass an API key (--api-key-env VAR)`
          : `unknown connection "${target}"; expected one of ${[...this.config.connections.keys()].join(', ')}`,
      ]);
    }
    const provider = c?.provider ?? target;
    const { spec, baseUrl } = specFor(this.config, provider);
    const url = overrides.baseUrl ?? c?.baseUrl ?? baseUrl;
    if (!url)
      throw new ConfigError([
        c ? `connections.${target}.baseUrl: required for provider "${provider}"` : `no base URL for provider "${provider}": pass one (--base-url)`,
      ]);
    const creds = overrides.credentials ?? secretCredentials(this.secrets, (c as { secret: string }).secret);
    return createAdapter(spec, url, creds, this.http);
  }
}
