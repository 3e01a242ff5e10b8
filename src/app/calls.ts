/** Provider calls for the application: the adapter of a connection (or why there is none) and a per-connection limit on calls in flight. */
import { ConfigError } from '../errors.js';
import type { ProviderAdapter } from '../providers/types.js';
import { Limiter } from './limiter.js';

export interface ProviderLookup {
  forConnection(connection: string): ProviderAdapter;
}

export class ProviderCalls {
  private readonly limiters = new Map<string, Limiter>();

  constructor(
    private readonly providers: ProviderLookup,
    /** Calls in flight per connection (a connection is one account's rate limit). */
    private readonly concurrency: number,
  ) {}

  /** The connection's adapter, or the configuration problem that leaves it without one (a fault of that execution, not of the sweep). */
  adapter(connection: string): ProviderAdapter | { error: string } {
    try {
      return this.providers.forConnection(connection);
    } catch (err) {
      if (err instanceof ConfigError) return { error: err.message };
      throw err;
    }
  }

  /** Run one provider call within the connection's limit. */
  run<T>(connection: string, fn: () => Promise<T>): Promise<T> {
    return this.limiter(connection).run(fn);
  }

  /** Take one of the connection's slots; the function gives it back. */
  acquire(connection: string): Promise<() => void> {
    return this.limiter(connection).acquire();
  }

  private limiter(connection: string): Limiter {
    let l = this.limiters.get(connection);
    if (!l) {
      l = new Limiter(this.concurrency);
      this.limiters.set(connection, l);
    }
    return l;
  }
}
