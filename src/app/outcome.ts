/**
 * From what a provider answered to what the store records: retryable faults back off
 * across sweeps (honouring Retry-After) until maxCancelAttempts, auth and config faults
 * fail at once, accepted-but-running cancels are checked again soon.
 */
import type { CancelResult } from '../core/transitions.js';
import type { CancelOutcome, ProviderStatus } from '../providers/types.js';

export interface OutcomeCtx {
  now: number;
  /** Attempts made so far, this one included. */
  attempts: number;
  maxAttempts: number;
  /** When to look again at a cancel the provider accepted but has not finished. */
  pendingCheckMs: number;
  /** Sent again because it was not confirmed in time. */
  resent?: boolean;
  /** 0..1, for jitter; injectable for tests. */
  random?: () => number;
}

/** Exponential backoff between sweeps: 15 s, 30 s, 1 m … capped at 10 m, with ±25% jitter. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(10 * 60_000, 15_000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

const raw = (s: ProviderStatus | undefined) => (s ? { providerStatus: s.raw } : {});

export function toCancelResult(out: CancelOutcome, c: OutcomeCtx): CancelResult {
  const retry = (error: string, hintMs?: number): CancelResult => {
    if (c.attempts >= c.maxAttempts) return { kind: 'failed', error: `gave up after ${c.attempts} attempts: ${error}` };
    return { kind: 'retry', retryAt: c.now + Math.max(hintMs ?? 0, retryDelayMs(c.attempts, c.random)), error };
  };
  switch (out.kind) {
    case 'cancelled':
      return { kind: 'cancelled', ...raw(out.status) };
    case 'already_finished':
      return { kind: 'already_finished', ...raw(out.status) };
    case 'cancel_pending':
      return { kind: 'cancel_pending', checkAt: c.now + c.pendingCheckMs, ...raw(out.status), ...(c.resent ? { resent: true } : {}) };
    case 'unauthorized':
      return { kind: 'failed', error: `provider rejected the credentials (HTTP ${out.httpStatus}); check the connection's secret` };
    case 'not_found':
      return { kind: 'failed', error: `provider does not know this execution (HTTP ${out.httpStatus}); check the connection and external id` };
    case 'rejected':
      return { kind: 'failed', error: `provider refused the cancel (HTTP ${out.httpStatus}): ${out.error}` };
    case 'rate_limited':
      return retry(`rate limited${out.retryAfterMs === undefined ? '' : ` (retry after ${Math.ceil(out.retryAfterMs / 1000)}s)`}`, out.retryAfterMs);
    case 'transient':
      return retry(out.error);
    case 'no_credentials':
      // Denied, missing or undecryptable: no retry fixes it, fail now (cancel_failed, alerted)
      // instead of after half an hour of backoff. Slow or throttled: retried.
      if (out.permanent) return { kind: 'failed', error: `${out.error} (a deployment fault: grant or fix the secret, then cancel again)` };
      return retry(out.error);
    case 'invalid_response':
      // Often a gateway's error page; retried, and it fails visibly once attempts run out.
      return retry(`invalid response: ${out.error}`);
  }
}
