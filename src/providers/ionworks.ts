/** Ionworks (seed 002): POST /pipelines/{id}/cancel, X-API-Key; progress = finished elements / all. */
import * as z from 'zod';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

const Status = z.enum(['pending', 'running', 'completed', 'failed', 'canceled']);
const Body = z.object({ id: z.string(), status: Status, created_at: z.string().optional(), updated_at: z.string().optional(), error: z.string().nullish() });
const Elements = z.union([z.array(z.object({ status: z.string() })), z.object({ elements: z.array(z.object({ status: z.string() })) })]);
const DONE = new Set(['completed', 'failed', 'canceled']);

export const ionworks: AdapterSpec = {
  id: 'ionworks',
  cancel: { method: 'POST', path: (id) => `/pipelines/${id}/cancel` },
  status: { method: 'GET', path: (id) => `/pipelines/${id}` },
  // Ionworks returns a finished pipeline unchanged (canceled included): read the status first.
  ambiguousCancel: true,
  authHeaders: (key) => ({ 'x-api-key': key }),
  parse(body) {
    const b = Body.safeParse(body);
    if (!b.success) return undefined;
    const st = b.data.status;
    const s: ProviderStatus = { phase: st === 'pending' || st === 'running' ? st : 'finished', raw: st };
    if (st === 'completed') s.result = 'succeeded';
    if (st === 'failed') s.result = 'failed';
    if (st === 'canceled') s.result = 'cancelled';
    if (b.data.error) s.message = b.data.error;
    return s;
  },
  async progress(get, id) {
    const res = await get(`/pipelines/${id}/elements`);
    const parsed = Elements.safeParse(res.json);
    if (res.status !== 200 || !parsed.success) return undefined;
    const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.elements;
    if (list.length === 0) return undefined;
    const done = list.filter((e) => DONE.has(e.status)).length;
    return { fraction: done / list.length, done, total: list.length };
  },
};
