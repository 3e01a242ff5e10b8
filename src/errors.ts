import type { Execution } from './core/model.js';

/** All domain errors: one base class, each subclass names itself and keeps its cause. */
export class WatchdogError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config (or input) that cannot be used. `problems` holds one `path: message` line each. */
export class ConfigError extends WatchdogError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super(problems.join('\n'), options);
    this.problems = problems;
  }
}

/** Bad input from a caller (CLI flags, HTTP body): nothing was changed. */
export class InputError extends WatchdogError {}

/**
 * The request conflicts with what exists (HTTP 409), so nothing was changed; `code` is stable
 * and machine-readable (api/wire.ts ERROR_CODES). With `execution_ended`, the execution as it
 * ended (who stopped it and why) for the caller.
 */
export class ConflictError extends InputError {
  constructor(
    readonly code: 'execution_ended' | 'cancel_in_progress' | 'tracked_elsewhere' | 'state_conflict',
    message: string,
    readonly execution?: Execution,
  ) {
    super(message);
  }
}

/** The execution does not exist. */
export class NotFoundError extends WatchdogError {}

/**
 * Something the watchdog itself depends on (Secrets Manager, the store, a throttle) failed
 * or did not answer in time: the request was not judged. HTTP: 503 and a retry, never 401
 * (a tracker must not learn "refused" for the watchdog's own outage).
 */
export class DependencyError extends WatchdogError {}

/**
 * Whether an error is the watchdog's own dependency failing (as opposed to a bug or bad
 * input): a DependencyError, an AWS SDK service error or throttle (it carries $metadata),
 * a timeout or a network error.
 */
export function isDependencyFault(err: unknown): boolean {
  if (err instanceof DependencyError) return true;
  if (err === null || typeof err !== 'object') return false;
  const e = err as { $metadata?: unknown; name?: unknown; code?: unknown };
  if (e.$metadata !== undefined) return true;
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  return (
    /Timeout|Throttl|ProvisionedThroughput|RequestLimit|AbortError/.test(name) || /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/.test(code)
  );
}

/** The store could not be reached or answered something unexpected. */
export class StoreError extends WatchdogError {}
