/**
 * superglue (seed 003): POST /runs/{id}/cancel, Bearer; 400 when not running, 200 again when already aborted.
 * List (discovery): superglue's API reference, "List runs" (GET /runs; query toolId, status
 * running|success|failed|aborted, page from 1, limit up to 100; answer {data, page, limit, total,
 * hasMore}), and `listRuns` in its SDK reference (docs.superglue.cloud/api-reference/runs/list-runs).
 */
import * as z from 'zod';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

const Body = z.object({
  runId: z.string(),
  status: z.enum(['running', 'success', 'failed', 'aborted']),
  error: z.string().optional(),
  metadata: z.object({ startedAt: z.string().optional(), completedAt: z.string().optional(), durationMs: z.number().optional() }).optional(),
});

export const LIST_PAGE_SIZE = 100;
const ListBody = z.object({ data: z.array(z.unknown()), page: z.number().int().optional(), hasMore: z.boolean().optional() });
const ListItem = z.object({ runId: z.unknown(), status: z.string().optional(), metadata: z.object({ startedAt: z.string().nullish() }).nullish() });

export const superglue: AdapterSpec = {
  id: 'superglue',
  cancel: { method: 'POST', path: (id) => `/runs/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/runs/${id}` },
  // superglue answers 200 `aborted` to a cancel of a run already aborted: read the status first.
  ambiguousCancel: true,
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  list: {
    path: (cursor) => `/runs?status=running&page=${cursor ?? '1'}&limit=${LIST_PAGE_SIZE}`,
    page(body, cursor) {
      const b = ListBody.safeParse(body);
      if (!b.success) return undefined;
      const page = Number(cursor ?? '1');
      return { items: b.data.data, ...(b.data.hasMore && b.data.data.length > 0 ? { next: String(page + 1) } : {}) };
    },
    item(raw) {
      const i = ListItem.safeParse(raw);
      if (!i.success) return undefined;
      if (i.data.status !== undefined && i.data.status !== 'running') return 'not_running';
      return { id: i.data.runId, raw: i.data.status, startedAt: i.data.metadata?.startedAt };
    },
  },
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
