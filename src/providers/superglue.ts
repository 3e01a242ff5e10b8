/** superglue (seed 003): POST /runs/{id}/cancel, Bearer; 400 when not running, 200 again when already aborted. */
import * as z from 'zod';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

const Body = z.object({
  runId: z.string(),
  status: z.enum(['running', 'success', 'failed', 'aborted']),
  error: z.string().optional(),
  metadata: z.object({ startedAt: z.string().optional(), completedAt: z.string().optional(), durationMs: z.number().optional() }).optional(),
});

export const superglue: AdapterSpec = {
  id: 'superglue',
  cancel: { method: 'POST', path: (id) => `/runs/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/runs/${id}` },
  // superglue answers 200 `aborted` to a cancel of a run already aborted: read the status first.
  ambiguousCancel: true,
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  parse(body) {
    const b = Body.safeParse(body);
    if (!b.success) return undefined;
    const st = b.data.status;
    const s: ProviderStatus = { phase: st === 'running' ? 'running' : 'finished', raw: st };
    if (st === 'success') s.result = 'succeeded';
    if (st === 'failed') s.result = 'failed';
    if (st === 'aborted') s.result = 'cancelled';
    if (b.data.error) s.message = b.data.error;
    if (b.data.metadata?.startedAt) s.startedAt = b.data.metadata.startedAt;
    if (b.data.metadata?.completedAt) s.endedAt = b.data.metadata.completedAt;
    return s;
  },
};
