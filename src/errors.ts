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

/** The execution does not exist. */
export class NotFoundError extends WatchdogError {}

/** The store could not be reached or answered something unexpected. */
export class StoreError extends WatchdogError {}
