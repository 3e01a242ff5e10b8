/**
 * Catalyzed (seed 000): POST /pipeline-executions/{id}/cancel, Bearer token; 409 when already finished.
 * List (discovery): Catalyzed's API reference, "List pipeline executions" (GET /pipeline-executions;
 * query status pending|running|succeeded|failed|cancelled, page from 1, pageSize 1–100; answer
 * {executions: [{executionId, status, startedAt, …}]}). The page documents no "has more" field:
 * a page shorter than pageSize is the last.
 */
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

export const LIST_PAGE_SIZE = 100;
const ListBody = z.object({ executions: z.array(z.unknown()) });
const ListItem = z.object({ executionId: z.unknown(), status: z.string().optional(), startedAt: z.string().nullish(), createdAt: z.string().nullish() });

export const catalyzed: AdapterSpec = {
  id: 'catalyzed',
  cancel: { method: 'POST', path: (id) => `/pipeline-executions/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/pipeline-executions/${id}` },
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  list: {
    path: (cursor) => `/pipeline-executions?status=running&page=${cursor ?? '1'}&pageSize=${LIST_PAGE_SIZE}`,
    page(body, cursor) {
      const b = ListBody.safeParse(body);
      if (!b.success) return undefined;
      const page = Number(cursor ?? '1');
      return { items: b.data.executions, ...(b.data.executions.length >= LIST_PAGE_SIZE ? { next: String(page + 1) } : {}) };
    },
    item(raw) {
      const i = ListItem.safeParse(raw);
      if (!i.success) return undefined;
      if (i.data.status !== undefined && i.data.status !== 'running') return 'not_running';
      return { id: i.data.executionId, raw: i.data.status, startedAt: i.data.startedAt ?? i.data.createdAt };
    },
  },
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
