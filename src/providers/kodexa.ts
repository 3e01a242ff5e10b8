/** Kodexa (seed 001): PUT /api/executions/{id}/cancel, x-api-key; CANCELLING = accepted, not yet done. */
import * as z from 'zod';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

const Body = z.object({
  status: z.string().min(1),
  statusDetails: z.object({ progress: z.number().nullish(), progressMax: z.number().nullish(), message: z.string().nullish() }).nullish(),
  startDate: z.string().nullish(),
  endDate: z.string().nullish(),
});

function mapStatus(raw: string): Pick<ProviderStatus, 'phase' | 'result'> {
  switch (raw.toUpperCase()) {
    case 'SUCCEEDED':
      return { phase: 'finished', result: 'succeeded' };
    case 'SKIPPED':
      return { phase: 'finished', result: 'succeeded' };
    case 'FAILED':
      return { phase: 'finished', result: 'failed' };
    case 'CANCELLED':
      return { phase: 'finished', result: 'cancelled' };
    case 'CANCELLING':
      return { phase: 'cancelling' };
    case 'PENDING':
      return { phase: 'pending' };
    default:
      return { phase: 'running' };
  }
}

export const kodexa: AdapterSpec = {
  id: 'kodexa',
  cancel: { method: 'PUT', path: (id) => `/api/executions/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/api/executions/${id}` },
  // Kodexa answers a cancel of a finished run with the run as it is (CANCELLED included): read the status first.
  ambiguousCancel: true,
  authHeaders: (key) => ({ 'x-api-key': key }),
  parse(body) {
    const b = Body.safeParse(body);
    if (!b.success) return undefined;
    const d = b.data;
    const s: ProviderStatus = { ...mapStatus(d.status), raw: d.status };
    const p = d.statusDetails?.progress;
    const max = d.statusDetails?.progressMax;
    if (p != null && max != null && max > 0) s.progress = { fraction: Math.min(1, p / max), done: p, total: max };
    if (d.statusDetails?.message) s.message = d.statusDetails.message;
    if (d.startDate) s.startedAt = d.startDate;
    if (d.endDate) s.endedAt = d.endDate;
    return s;
  },
};
