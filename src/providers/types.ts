/** The one interface every provider adapter implements, and its normalized answers. */
export type Phase = 'pending' | 'running' | 'cancelling' | 'finished';
export type FinishResult = 'succeeded' | 'failed' | 'cancelled';

export interface ProviderStatus {
  phase: Phase;
  /** Set when phase is finished. */
  result?: FinishResult;
  /** The platform's own status string. */
  raw: string;
  progress?: { fraction: number; done?: number; total?: number };
  message?: string;
  startedAt?: string;
  endedAt?: string;
}

/** Faults shared by cancel and status. `rejected`: a 4xx the platform refused for another reason. */
export type Fault =
  | { kind: 'not_found'; httpStatus: number }
  | { kind: 'unauthorized'; httpStatus: number }
  | { kind: 'rate_limited'; retryAfterMs?: number }
  | { kind: 'transient'; error: string }
  | { kind: 'invalid_response'; error: string }
  | { kind: 'rejected'; httpStatus: number; error: string }
  /**
   * The connection's secret could not be read. `permanent`: it will not heal by itself (access
   * denied, no such secret, no such field, a key it cannot decrypt with); else Secrets Manager
   * was slow or throttled.
   */
  | { kind: 'no_credentials'; error: string; permanent?: boolean };

export type CancelOutcome =
  | { kind: 'cancelled'; status?: ProviderStatus }
  /** Accepted, not yet terminal (e.g. Kodexa CANCELLING). */
  | { kind: 'cancel_pending'; status?: ProviderStatus }
  /** It had finished (any result) before our cancel: never reported as cancelled by us. */
  | { kind: 'already_finished'; status: ProviderStatus }
  | Fault;

export type StatusOutcome = { kind: 'status'; status: ProviderStatus } | Fault;

/** One run on a platform's list of running executions (discovery). */
export interface ListedRun {
  externalId: string;
  /** The platform's own status string, when the list gives one. */
  raw?: string;
  /** Epoch ms, when the platform gives the start time. */
  startedAt?: number;
}

/** One page of the list: its runs and the cursor of the next page (absent on the last). */
export type ListOutcome = { kind: 'page'; runs: ListedRun[]; next?: string; skipped: number } | Fault;

export interface ProviderAdapter {
  readonly id: string;
  readonly hasStatus: boolean;
  cancel(externalId: string): Promise<CancelOutcome>;
  status(externalId: string): Promise<StatusOutcome>;
  /** The platform's running executions, one page per call (absent: the platform documents no list). */
  list?(cursor: string | undefined): Promise<ListOutcome>;
}

export const CANCEL_OK = new Set(['cancelled', 'cancel_pending', 'already_finished']);
