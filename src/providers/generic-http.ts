/** The generic `http` provider: a sixth platform declared in config, no code. */
import type { HttpProviderConfig } from '../config/schema.js';
import type { AdapterSpec, ListSpec } from './adapter.js';
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

const withQuery = (path: string, param: string, value: string): string =>
  `${path}${path.includes('?') ? '&' : '?'}${encodeURIComponent(param)}=${encodeURIComponent(value)}`;

/** The declared list (discovery) of a generic provider: page numbers, a cursor, or next links. */
function listSpec(l: NonNullable<HttpProviderConfig['list']>): ListSpec {
  const p = l.pagination;
  return {
    nextIsLink: p.type === 'next',
    path(cursor) {
      if (p.type === 'page') return withQuery(l.path, p.param, cursor ?? String(p.first));
      if (p.type === 'cursor' && cursor !== undefined) return withQuery(l.path, p.param, cursor);
      return l.path;
    },
    page(body, cursor) {
      const items = pointer(body, l.itemsPointer);
      if (!Array.isArray(items)) return undefined;
      let next: unknown;
      if (p.type === 'page') {
        const more = p.hasMorePointer !== undefined ? pointer(body, p.hasMorePointer) : undefined;
        const last = items.length === 0 || more === false || (p.pageSize !== undefined && items.length < p.pageSize);
        next = last ? undefined : String(Number(cursor ?? p.first) + 1);
      } else if (p.type !== 'none') next = pointer(body, p.pointer);
      return { items, ...(typeof next === 'string' ? { next } : {}) };
    },
    item(raw) {
      const status = l.statusPointer !== undefined ? pointer(raw, l.statusPointer) : undefined;
      if (l.statusPointer !== undefined && (typeof status !== 'string' || !l.running.includes(status))) return 'not_running';
      return { id: pointer(raw, l.idPointer), raw: status, ...(l.startedAtPointer ? { startedAt: pointer(raw, l.startedAtPointer) } : {}) };
    },
  };
}

export function genericHttpSpec(id: string, c: HttpProviderConfig): AdapterSpec {
  const st = c.status;
  const fill = (tpl: string) => (enc: string) => tpl.split('{id}').join(enc);
  return {
    id,
    ...(c.list ? { list: listSpec(c.list) } : {}),
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
