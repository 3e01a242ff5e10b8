/**
 * Secrets by name: Secrets Manager in AWS (cached with a TTL, refreshed on demand), a JSON
 * file locally (`{"<secret name>": "<value or JSON string>"}`). Values are never logged.
 */
import { readFileSync } from 'node:fs';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { ConfigError, DependencyError } from './errors.js';

export interface SecretSource {
  get(name: string, opts?: { fresh?: boolean }): Promise<string>;
}

export class FileSecrets implements SecretSource {
  private values: Map<string, string> | undefined;
  constructor(private readonly file: string) {}
  /** A file that cannot be read, or a missing name, is a rejection, never a throw. */
  get(name: string, opts: { fresh?: boolean } = {}): Promise<string> {
    return new Promise((resolve) => resolve(this.read(name, opts)));
  }

  private read(name: string, opts: { fresh?: boolean }): string {
    if (!this.values || opts.fresh) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(this.file, 'utf8'));
      } catch (err) {
        throw new ConfigError([`secrets file ${this.file}: ${(err as Error).message.split('\n')[0]}`]);
      }
      const r = z.record(z.string(), z.union([z.string(), z.record(z.string(), z.unknown())])).safeParse(parsed);
      if (!r.success) throw new ConfigError([`secrets file ${this.file}: expected {"<name>": "<value>"}`]);
      this.values = new Map(Object.entries(r.data).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    }
    const v = this.values.get(name);
    if (v === undefined) throw new ConfigError([`secret "${name}" is not in ${this.file}`]);
    return v;
  }
}

/** How long one secret read may take, all retries included, before the caller is told it is unavailable. */
export const SECRET_WAIT_MS = 3_000;

/**
 * Secrets Manager, bounded in time and shared by concurrent readers. The client is loaded on
 * the first read, not at module load: a cold sweep with nothing to cancel never pays for it.
 * - every read gives up after `waitMs` (connect 1 s, request 2 s, two attempts): a slow
 *   Secrets Manager costs a request one bounded wait, never the function's timeout;
 * - concurrent reads of one name share one call;
 * - a value read before is kept past its TTL when a refresh fails (denied, throttled, slow):
 *   a secret that worked a minute ago is a better answer than an outage. `fresh` (a provider
 *   answered 401 with the cached value) never falls back.
 */
export class AwsSecrets implements SecretSource {
  private readonly cache = new Map<string, { value: string; at: number }>();
  private readonly inFlight = new Map<string, Promise<string>>();
  private reader: Promise<(name: string) => Promise<string | undefined>> | undefined;
  constructor(
    private readonly client?: SecretsManagerClient,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly waitMs = SECRET_WAIT_MS,
  ) {}
  private read(name: string): Promise<string | undefined> {
    this.reader ??= import('@aws-sdk/client-secrets-manager')
      .then((m) => {
        const client =
          this.client ??
          new m.SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true } });
        return async (id: string) => (await client.send(new m.GetSecretValueCommand({ SecretId: id }))).SecretString;
      })
      .catch((err: unknown) => {
        this.reader = undefined; // try loading again next time
        throw err;
      });
    return this.reader.then((read) => read(name));
  }
  async get(name: string, opts: { fresh?: boolean } = {}): Promise<string> {
    const hit = this.cache.get(name);
    if (hit && !opts.fresh && this.now() - hit.at < this.ttlMs) return hit.value;
    try {
      return await this.load(name);
    } catch (err) {
      if (hit && !opts.fresh) return hit.value;
      throw err;
    }
  }
  private load(name: string): Promise<string> {
    let p = this.inFlight.get(name);
    if (!p) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DependencyError(`secret "${name}": no answer within ${this.waitMs} ms`)), this.waitMs);
        timer.unref();
      });
      p = Promise.race([this.read(name), timeout])
        .then((value) => {
          if (value === undefined) throw new ConfigError([`secret "${name}" has no string value`]);
          this.cache.set(name, { value, at: this.now() });
          return value;
        })
        .finally(() => {
          clearTimeout(timer);
          this.inFlight.delete(name);
        });
      this.inFlight.set(name, p);
    }
    return p;
  }
}

/** Read a secret and take one field of it (see secretField). */
export async function readSecretField(source: SecretSource, name: string, field: string, opts?: { fresh?: boolean }): Promise<string> {
  return secretField(await source.get(name, opts), field);
}

/** A field of a JSON secret (e.g. apiKey), or the raw value when the secret is not JSON. */
export function secretField(value: string, field: string): string {
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object' && Object.hasOwn(parsed, field)) {
      const v = (parsed as Record<string, unknown>)[field];
      if (typeof v === 'string' && v) return v;
    }
    throw new ConfigError([`secret has no string "${field}" field`]);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return value;
  }
}
