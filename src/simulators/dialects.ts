/**
 * How each platform speaks, per its seed: routes, auth header, status vocabulary, and
 * what cancel answers when the run has already finished.
 */
export type SimState = 'pending' | 'running' | 'cancelling' | 'succeeded' | 'failed' | 'cancelled';
export interface SimExecution {
  id: string;
  state: SimState;
  done: number;
  total?: number;
  startedAt: number;
  endedAt?: number;
  /** Finishes by itself (succeeded) at this time. */
  finishAt?: number;
  /** Kodexa: CANCELLING becomes CANCELLED at this time. */
  cancelledAt?: number;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Dialect {
  name: string;
  /** The API key as presented, or undefined when the header is absent. */
  key(headers: Record<string, string | string[] | undefined>): string | undefined;
  cancel: { method: string; pattern: RegExp };
  status: { method: string; pattern: RegExp };
  elements?: RegExp;
  /** The list of executions (where the platform documents one), with its own pagination. */
  list?: { pattern: RegExp; page(all: readonly SimExecution[], q: URLSearchParams): Reply };
  render(e: SimExecution): unknown;
  /** Cancel of a run that has already finished. */
  cancelFinished(e: SimExecution): Reply;
  /** Kodexa: cancel is accepted as CANCELLING first. */
  cancelIsAsync?: boolean;
  error(status: number, message: string): unknown;
}

const header = (name: string) => (h: Record<string, string | string[] | undefined>) => {
  const v = Object.hasOwn(h, name) ? h[name] : undefined;
  return Array.isArray(v) ? v[0] : v;
};
const bearer = (h: Record<string, string | string[] | undefined>) => /^Bearer (.+)$/.exec(header('authorization')(h) ?? '')?.[1];
const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
const pct = (e: SimExecution) => (e.total ? Math.round((e.done / e.total) * 100) : null);

const vocab = (map: Record<SimState, string>) => (s: SimState) => map[s];

/** Page `page` (from 1) of the executions whose platform status is `status` (all when absent), oldest first. */
function pageOf(all: readonly SimExecution[], statusOf: (s: SimState) => string, q: URLSearchParams, sizeParam: string, maxSize: number) {
  const status = q.get('status');
  const matching = all.filter((e) => status === null || statusOf(e.state) === status).sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
  const page = Math.max(1, Number(q.get('page') ?? '1') || 1);
  const size = Math.min(maxSize, Math.max(1, Number(q.get(sizeParam) ?? '50') || 50));
  return { items: matching.slice((page - 1) * size, page * size), page, size, total: matching.length };
}

const catalyzedStatus = vocab({
  pending: 'pending',
  running: 'running',
  cancelling: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
});
const kodexaStatus = vocab({
  pending: 'PENDING',
  running: 'RUNNING',
  cancelling: 'CANCELLING',
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
});
const ionworksStatus = vocab({
  pending: 'pending',
  running: 'running',
  cancelling: 'running',
  succeeded: 'completed',
  failed: 'failed',
  cancelled: 'canceled',
});
const superglueStatus = vocab({ pending: 'running', running: 'running', cancelling: 'running', succeeded: 'success', failed: 'failed', cancelled: 'aborted' });
const meibelStatus = vocab({
  pending: 'Pending',
  running: 'Running',
  cancelling: 'Cancelling',
  succeeded: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
});

export const DIALECTS: Record<string, Dialect> = {
  catalyzed: {
    name: 'catalyzed',
    key: bearer,
    cancel: { method: 'POST', pattern: /^\/pipeline-executions\/([^/]+)\/cancel$/ },
    status: { method: 'GET', pattern: /^\/pipeline-executions\/([^/]+)$/ },
    // "List pipeline executions": page, pageSize (1–100), status; {executions: […]}.
    list: {
      pattern: /^\/pipeline-executions$/,
      page: (all, q) => {
        const p = pageOf(all, catalyzedStatus, q, 'pageSize', 100);
        return { status: 200, body: { executions: p.items.map((e) => DIALECTS.catalyzed!.render(e)) } };
      },
    },
    render: (e) => ({
      executionId: e.id,
      pipelineId: 'pl_sim',
      status: catalyzedStatus(e.state),
      progressPct: pct(e),
      progressMessage: e.total ? `${e.done}/${e.total}` : null,
      startedAt: iso(e.startedAt),
      completedAt: iso(e.endedAt),
      createdAt: iso(e.startedAt),
    }),
    cancelFinished: () => ({ status: 409, body: { error: 'CONFLICT', message: 'Execution is not running' } }),
    error: (_s, message) => ({ error: 'ERROR', message }),
  },
  kodexa: {
    name: 'kodexa',
    key: header('x-api-key'),
    cancel: { method: 'PUT', pattern: /^\/api\/executions\/([^/]+)\/cancel$/ },
    status: { method: 'GET', pattern: /^\/api\/executions\/([^/]+)$/ },
    cancelIsAsync: true,
    render: (e) => ({
      id: e.id,
      uuid: e.id,
      status: kodexaStatus(e.state),
      statusDetails: { progress: e.done, progressMax: e.total ?? null, message: null },
      startDate: iso(e.startedAt),
      endDate: iso(e.endedAt),
      changeSequence: 1,
    }),
    // Kodexa's seed does not document a conflict: it answers with the execution as it is.
    cancelFinished: (e) => ({ status: 200, body: DIALECTS.kodexa!.render(e) }),
    error: (s, message) => ({ statusCode: s, message }),
  },
  ionworks: {
    name: 'ionworks',
    key: header('x-api-key'),
    cancel: { method: 'POST', pattern: /^\/pipelines\/([^/]+)\/cancel$/ },
    status: { method: 'GET', pattern: /^\/pipelines\/([^/]+)$/ },
    elements: /^\/pipelines\/([^/]+)\/elements$/,
    render: (e) => ({
      id: e.id,
      project_id: 'prj_sim',
      name: `sim ${e.id}`,
      status: ionworksStatus(e.state),
      created_at: iso(e.startedAt),
      updated_at: iso(e.endedAt ?? e.startedAt),
      organization_id: 'org_sim',
      error: null,
    }),
    // Cancelling a finished pipeline returns it unchanged (the seed lists only 200 and 422).
    cancelFinished: (e) => ({ status: 200, body: DIALECTS.ionworks!.render(e) }),
    error: (_s, message) => ({ detail: message }),
  },
  superglue: {
    name: 'superglue',
    key: bearer,
    cancel: { method: 'POST', pattern: /^\/runs\/([^/]+)\/cancel$/ },
    status: { method: 'GET', pattern: /^\/runs\/([^/]+)$/ },
    // "List runs": page, limit (up to 100), status; {data, page, limit, total, hasMore}.
    list: {
      pattern: /^\/runs$/,
      page: (all, q) => {
        const p = pageOf(all, superglueStatus, q, 'limit', 100);
        return {
          status: 200,
          body: { data: p.items.map((e) => DIALECTS.superglue!.render(e)), page: p.page, limit: p.size, total: p.total, hasMore: p.page * p.size < p.total },
        };
      },
    },
    render: (e) => ({
      runId: e.id,
      toolId: 'tool_sim',
      status: superglueStatus(e.state),
      metadata: { startedAt: iso(e.startedAt), ...(e.endedAt ? { completedAt: iso(e.endedAt), durationMs: e.endedAt - e.startedAt } : {}) },
    }),
    cancelFinished: (e) =>
      e.state === 'cancelled'
        ? { status: 200, body: DIALECTS.superglue!.render(e) }
        : { status: 400, body: { error: { message: 'Run is not currently running' } } },
    // Seed 003 components.schemas.Error: {"error": {"message": "…"}}.
    error: (_s, message) => ({ error: { message } }),
  },
  meibel: {
    name: 'meibel',
    key: header('meibel-api-key'),
    cancel: { method: 'POST', pattern: /^\/batch-executions\/id\/([^/]+)\/cancel$/ },
    status: { method: 'GET', pattern: /^\/batch-executions\/id\/([^/]+)$/ },
    render: (e) => ({
      id: e.id,
      batch_definition_id: 'bd_sim',
      customer_id: 'cu_sim',
      project_id: 'pr_sim',
      status: meibelStatus(e.state),
      total_items: e.total ?? null,
      succeeded: e.done,
      failed: 0,
      start_time: iso(e.startedAt),
      end_time: iso(e.endedAt),
      error: null,
    }),
    cancelFinished: (e) => ({ status: 200, body: DIALECTS.meibel!.render(e) }),
    error: (_s, message) => ({ detail: [{ loc: ['path'], msg: message, type: 'value_error' }] }),
  },
};
