/** Catalyzed (seed 000): POST /pipeline-executions/{id}/cancel, Bearer token; 409 when already finished. */
import * as z from 'zod';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

const Body = z.object({
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'cancelled']),
  progressPct: z.number().min(0).max(100).nullish(),
  progressMessage: z.string().nullish(),
  startedAt: z.string().nullish(),
  completedAt: z.string().nullish(),
});

export const catalyzed: AdapterSpec = {
  id: 'catalyzed',
  cancel: { method: 'POST', path: (id) => `/pipeline-executions/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/pipeline-executions/${id}` },
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  parse(body) {
    const b = Body.safeParse(body);
    if (!b.success) return undefined;
    const d = b.data;
    const s: ProviderStatus = { phase: d.status === 'pending' || d.status === 'running' ? d.status : 'finished', raw: d.status };
    if (s.phase === 'finished') s.result = d.status as 'succeeded' | 'failed' | 'cancelled';
    if (d.progressPct != null) s.progress = { fraction: d.progressPct / 100, done: d.progressPct, total: 100 };
    if (d.progressMessage) s.message = d.progressMessage;
    if (d.startedAt) s.startedAt = d.startedAt;
    if (d.completedAt) s.endedAt = d.completedAt;
    return s;
  },
};
