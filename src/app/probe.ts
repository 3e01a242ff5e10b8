/**
 * Connection probes: a harmless status read of an id that cannot exist. "Not found" proves
 * the credentials and the route work; 401/403, an unreadable secret, DNS, TLS, timeouts or a
 * gateway's error page mean the connection is unhealthy — found before a runaway needs it.
 * Used by the sweep (every `settings.probeEvery`, one notice per incident and one on
 * recovery) and by `watchdog doctor`.
 */
import type { ProviderAdapter, StatusOutcome } from '../providers/types.js';

/** Never a real execution id on any platform: the probe must read "not found". */
export const PROBE_EXTERNAL_ID = 'runaway-watchdog-probe-0000000000000000';

export interface ProbeReport {
  connection: string;
  healthy: boolean;
  /** What the platform answered, in words. */
  detail: string;
  /** Health differs from the previous probe (an incident starts or ends). */
  changed?: boolean;
}

/** Healthy answers: anything that proves we reached the platform with accepted credentials. */
export function probeVerdict(out: StatusOutcome): { healthy: boolean; detail: string } {
  switch (out.kind) {
    case 'not_found':
      return { healthy: true, detail: 'reachable, credentials accepted (probe id not found, as expected)' };
    case 'status':
      return { healthy: true, detail: `reachable, credentials accepted (answered ${out.status.raw})` };
    case 'rejected':
      return { healthy: true, detail: `reachable, credentials accepted (HTTP ${out.httpStatus} for the probe id)` };
    case 'rate_limited':
      return { healthy: true, detail: 'reachable (rate limited)' };
    case 'unauthorized':
      return { healthy: false, detail: `credentials rejected (HTTP ${out.httpStatus}): check the connection's secret` };
    case 'no_credentials':
      return { healthy: false, detail: out.error };
    case 'transient':
      return { healthy: false, detail: `unreachable: ${out.error}` };
    case 'invalid_response':
      return { healthy: false, detail: `unexpected answer: ${out.error}` };
  }
}

/** Probe one connection; a platform without a status call cannot be probed (undefined). */
export async function probe(connection: string, adapter: ProviderAdapter): Promise<ProbeReport | undefined> {
  if (!adapter.hasStatus) return undefined;
  return { connection, ...probeVerdict(await adapter.status(PROBE_EXTERNAL_ID)) };
}
