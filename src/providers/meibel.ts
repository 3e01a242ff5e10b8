/** Meibel (seed 004): POST /batch-executions/id/{id}/cancel, Meibel-API-Key; free-string status; 429 with Retry-After. */
import * as z from 'zod';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

const Body = z.object({
  id: z.string(),
  status: z.string().min(1),
  total_items: z.number().int().nullish(),
  succeeded: z.number().int().nullish(),
  failed: z.number().int().nullish(),
  start_time: z.string().optional(),
  end_time: z.string().nullish(),
  error: z.string().nullish(),
});

/** `cancel*`, `fail*`, `complet*`, `succe*`, `terminat*` (any case) are terminal. */
export function meibelPhase(raw: string): Pick<ProviderStatus, 'phase' | 'result'> {
  const s = raw.toLowerCase();
  if (s === 'cancelling' || s === 'canceling') return { phase: 'cancelling' };
  if (s.startsWith('cancel') || s.startsWith('terminat')) return { phase: 'finished', result: 'cancelled' };
  if (s.startsWith('fail')) return { phase: 'finished', result: 'failed' };
  if (s.startsWith('complet') || s.startsWith('succe')) return { phase: 'finished', result: 'succeeded' };
  if (s === 'pending' || s === 'queued') return { phase: 'pending' };
  return { phase: 'running' };
}

export const meibel: AdapterSpec = {
  id: 'meibel',
  cancel: { method: 'POST', path: (id) => `/batch-executions/id/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/batch-executions/id/${id}` },
  // Meibel returns a finished batch execution as it is (cancelled included): read the status first.
  ambiguousCancel: true,
  authHeaders: (key) => ({ 'meibel-api-key': key }),
  parse(body) {
    const b = Body.safeParse(body);
    if (!b.success) return undefined;
    const d = b.data;
    const s: ProviderStatus = { ...meibelPhase(d.status), raw: d.status };
    if (d.total_items && d.total_items > 0) {
      const done = (d.succeeded ?? 0) + (d.failed ?? 0);
      s.progress = { fraction: Math.min(1, done / d.total_items), done, total: d.total_items };
    }
    if (d.error) s.message = d.error;
    if (d.start_time) s.startedAt = d.start_time;
    if (d.end_time) s.endedAt = d.end_time;
    return s;
  },
};
