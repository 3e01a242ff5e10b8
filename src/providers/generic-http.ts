/** The generic `http` provider: a sixth platform declared in config, no code. */
import type { HttpProviderConfig } from '../config/schema.js';
import type { AdapterSpec } from './adapter.js';
import type { ProviderStatus } from './types.js';

/** RFC 6901 JSON pointer lookup. */
export function pointer(doc: unknown, ptr: string): unknown {
  if (ptr === '') return doc;
  let cur: unknown = doc;
  for (const raw of ptr.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function genericHttpSpec(id: string, c: HttpProviderConfig): AdapterSpec {
  const st = c.status;
  const fill = (tpl: string) => (enc: string) => tpl.split('{id}').join(enc);
  return {
    id,
    cancel: { method: c.cancel.method, path: fill(c.cancel.path) },
    ...(st ? { status: { method: st.method, path: fill(st.path) } } : {}),
    authHeaders: (key) => ({ [c.auth.header.toLowerCase()]: `${c.auth.prefix}${key}` }),
    alreadyFinishedStatuses: c.cancel.alreadyFinished,
    parse(body) {
      if (!st) return undefined;
      const raw = pointer(body, st.statusPointer);
      if (typeof raw !== 'string' || raw === '') return undefined;
      const s: ProviderStatus = { phase: 'running', raw };
      if (st.terminal.succeeded.includes(raw)) Object.assign(s, { phase: 'finished', result: 'succeeded' });
      else if (st.terminal.failed.includes(raw)) Object.assign(s, { phase: 'finished', result: 'failed' });
      else if (st.terminal.cancelled.includes(raw)) Object.assign(s, { phase: 'finished', result: 'cancelled' });
      else if (st.cancelling.includes(raw)) s.phase = 'cancelling';
      const done = st.progressPointer ? pointer(body, st.progressPointer) : undefined;
      const total = st.progressTotalPointer ? pointer(body, st.progressTotalPointer) : 100;
      if (typeof done === 'number' && typeof total === 'number' && total > 0) s.progress = { fraction: Math.min(1, done / total), done, total };
      return s;
    },
  };
}
