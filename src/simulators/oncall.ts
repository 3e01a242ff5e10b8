/**
 * Local stand-ins for the two incident tools, as their public API documents describe them:
 *
 * - PagerDuty Events API v2: `POST /v2/enqueue` with `routing_key`, `event_action`
 *   (`trigger` | `acknowledge` | `resolve`), `dedup_key` (≤ 255), and for a trigger a `payload`
 *   with `summary` (≤ 1024), `source` and `severity` (`critical` | `error` | `warning` |
 *   `info`). 202 `{status: "success", message: "Event processed", dedup_key}`; an invalid
 *   event 400 `{status: "invalid event", message, errors}`. A trigger on an open alert's key
 *   adds to it; after a resolve, a trigger with the same key opens a new one; an acknowledge
 *   or resolve of no open alert is dropped.
 * - Opsgenie Alert API: `Authorization: GenieKey <key>`; `POST /v2/alerts` (`message` ≤ 130
 *   required, `alias` ≤ 512: one open alert per alias) and
 *   `POST /v2/alerts/<alias>/close?identifierType=alias`, both 202
 *   `{result: "Request will be processed", took, requestId}`; a bad key 401, a bad body 422.
 *
 * Both record what they received, keep the alerts, and can fail the next N requests
 * (`failNext`: 500) or throttle them (`throttleNext`: 429). Tests and the demo use them.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OncallAlert {
  key: string;
  status: 'open' | 'acknowledged' | 'resolved';
  /** Triggers (PagerDuty) or creates (Opsgenie) received while it was open, the first included. */
  triggers: number;
  summary: string;
  severity?: string;
}

export interface OncallStandIn {
  readonly url: string;
  /** Every accepted request, in order: the action and the key. */
  readonly events: Array<{ action: 'trigger' | 'acknowledge' | 'resolve'; key: string; body: Record<string, unknown> }>;
  /** Every alert ever opened, in order (a key resolved and triggered again has two). */
  readonly alerts: OncallAlert[];
  /** The open (or acknowledged) alert of a key. */
  open(key: string): OncallAlert | undefined;
  failNext: number;
  throttleNext: number;
  onEvent?: (action: string, key: string) => void;
  close(): Promise<void>;
}

type Reply = { status: number; body: unknown };

async function serve(
  handle: (method: string, url: URL, headers: http.IncomingHttpHeaders, body: string) => Reply,
  sim: { failNext: number; throttleNext: number },
) {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let reply: Reply;
      if (sim.throttleNext > 0) {
        sim.throttleNext--;
        reply = { status: 429, body: { message: 'Too many requests' } };
      } else if (sim.failNext > 0) {
        sim.failNext--;
        reply = { status: 500, body: { message: 'Internal error' } };
      } else reply = handle(req.method ?? 'GET', new URL(req.url ?? '/', 'http://stand-in'), req.headers, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parse(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function alertBook() {
  const alerts: OncallAlert[] = [];
  const openOf = (key: string) => alerts.findLast((a) => a.key === key && a.status !== 'resolved');
  return { alerts, openOf };
}

const PD_SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

export async function startPagerDutyStandIn(opts: { routingKey: string }): Promise<OncallStandIn> {
  const { alerts, openOf } = alertBook();
  const sim: OncallStandIn = { url: '', events: [], alerts, open: openOf, failNext: 0, throttleNext: 0, close: async () => {} };
  const invalid = (errors: string[]): Reply => ({ status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } });
  const server = await serve((method, url, _headers, text) => {
    if (method !== 'POST' || url.pathname !== '/v2/enqueue') return { status: 404, body: { message: 'Not found' } };
    const b = parse(text);
    if (!b) return invalid(['Malformed JSON']);
    const errors: string[] = [];
    if (b.routing_key !== opts.routingKey) errors.push('Invalid routing key');
    const action = b.event_action;
    if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve') errors.push("'event_action' is invalid");
    const key = typeof b.dedup_key === 'string' ? b.dedup_key : undefined;
    if (key !== undefined && key.length > 255) errors.push("'dedup_key' is too long");
    if (action !== 'trigger' && key === undefined) errors.push("'dedup_key' is missing");
    const payload = b.payload as Record<string, unknown> | undefined;
    if (action === 'trigger') {
      if (typeof payload?.summary !== 'string' || payload.summary.length === 0 || payload.summary.length > 1024)
        errors.push("'payload.summary' is missing or too long");
      if (typeof payload?.source !== 'string' || payload.source.length === 0) errors.push("'payload.source' is missing");
      if (typeof payload?.severity !== 'string' || !PD_SEVERITIES.has(payload.severity)) errors.push("'payload.severity' is invalid");
    }
    if (errors.length > 0) return invalid(errors);
    const dedup = key ?? randomUUID().replaceAll('-', '');
    const open = openOf(dedup);
    if (action === 'trigger') {
      if (open) open.triggers++;
      else alerts.push({ key: dedup, status: 'open', triggers: 1, summary: payload!.summary as string, severity: payload!.severity as string });
    } else if (open) open.status = action === 'resolve' ? 'resolved' : 'acknowledged';
    sim.events.push({ action: action as 'trigger' | 'acknowledge' | 'resolve', key: dedup, body: b });
    sim.onEvent?.(action as string, dedup);
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: dedup } };
  }, sim);
  return Object.assign(sim, { url: server.url, close: server.close });
}

export async function startOpsgenieStandIn(opts: { apiKey: string }): Promise<OncallStandIn> {
  const { alerts, openOf } = alertBook();
  const sim: OncallStandIn = { url: '', events: [], alerts, open: openOf, failNext: 0, throttleNext: 0, close: async () => {} };
  const accepted = (): Reply => ({ status: 202, body: { result: 'Request will be processed', took: 0.01, requestId: randomUUID() } });
  const server = await serve((method, url, headers, text) => {
    if (headers.authorization !== `GenieKey ${opts.apiKey}`)
      return { status: 401, body: { message: 'Could not authenticate', took: 0, requestId: randomUUID() } };
    const b = parse(text);
    if (method === 'POST' && url.pathname === '/v2/alerts') {
      const message = b?.message;
      const alias = typeof b?.alias === 'string' ? b.alias : undefined;
      if (!b || typeof message !== 'string' || message.length === 0 || message.length > 130 || (alias !== undefined && alias.length > 512))
        return { status: 422, body: { message: 'Request body is not processable', took: 0, requestId: randomUUID() } };
      const key = alias ?? randomUUID();
      const open = openOf(key);
      if (open) open.triggers++;
      else alerts.push({ key, status: 'open', triggers: 1, summary: message, ...(typeof b.priority === 'string' ? { severity: b.priority } : {}) });
      sim.events.push({ action: 'trigger', key, body: b });
      sim.onEvent?.('trigger', key);
      return accepted();
    }
    const close = /^\/v2\/alerts\/([^/]+)\/close$/.exec(url.pathname);
    if (method === 'POST' && close && url.searchParams.get('identifierType') === 'alias') {
      const key = decodeURIComponent(close[1]!);
      const open = openOf(key);
      if (open) open.status = 'resolved';
      sim.events.push({ action: 'resolve', key, body: b ?? {} });
      sim.onEvent?.('resolve', key);
      return accepted();
    }
    return { status: 404, body: { message: 'Not found', took: 0, requestId: randomUUID() } };
  }, sim);
  return Object.assign(sim, { url: server.url, close: server.close });
}
