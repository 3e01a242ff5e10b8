import type { Execution } from '../../src/core/model.js';
import type { Policy } from '../../src/core/policy.js';

export const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
export const SEC = 1_000;
export const MIN = 60_000;
export const HOUR = 3_600_000;

export function policy(over: Partial<Policy> = {}): Policy {
  return { name: 'p', warnAt: 0.8, mode: 'enforce', maxExtensionMs: 2 * HOUR, recheckAfterMs: HOUR, ...over };
}

export function execution(over: Partial<Execution> = {}): Execution {
  return {
    id: 'wd_aaaaaaaaaaaa',
    connection: 'c',
    provider: 'catalyzed',
    externalId: 'x',
    policy: 'p',
    labels: {},
    limits: {},
    startedAt: T0,
    trackedAt: T0,
    state: 'running',
    warned: {},
    extensions: [],
    attempts: 0,
    version: 0,
    updatedAt: T0,
    ...over,
  };
}
