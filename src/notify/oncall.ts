/**
 * Incident tools: PagerDuty (Events API v2) and Opsgenie (Alert API). A message about trouble
 * carries an incident key (render.ts, sweep.ts): a trigger opens the incident or adds to the
 * open one with that key, a resolve closes it. PagerDuty's `dedup_key` and Opsgenie's `alias`
 * are that key, so a repeated delivery (the outbox sends again after a failed settle) never
 * opens a second incident. Both answer 202 when they accept; anything else throws and the
 * outbox retries (docs/oncall.md).
 */
import { HttpClient } from '../providers/http.js';
import { type Message, type Notifier, NotifyError, type Severity } from './types.js';

const SOURCE = 'runaway-watchdog';

/** A message without an incident key (a warning routed here) gets one per execution and kind: repeats update it. */
export function incidentOf(m: Message): { key: string; action: 'trigger' | 'resolve' } {
  return m.incident ?? { key: `${m.executionId ?? 'watchdog'}/${m.kind}`, action: 'trigger' };
}

/** POST the body; both tools answer 202 when they accept it. Anything else throws (with a 4xx's reason) and the outbox retries. */
async function accepted(tool: string, client: HttpClient, path: string, headers: Record<string, string>, body: unknown): Promise<void> {
  const res = await client.request('POST', path, headers, JSON.stringify(body)).catch((err: Error) => {
    throw new NotifyError(`${tool}: ${err.message}`);
  });
  if (res.status !== 202) throw new NotifyError(`${tool}: HTTP ${res.status}${res.status >= 400 && res.status < 500 ? ` (${res.text.slice(0, 200)})` : ''}`);
}

const PD_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = { alert: 'critical', warning: 'warning', info: 'info' };

export class PagerDutyNotifier implements Notifier {
  private readonly client: HttpClient;
  constructor(
    readonly target: string,
    apiUrl: string,
    private readonly routingKey: () => Promise<string>,
  ) {
    this.client = new HttpClient(new URL(apiUrl).origin, { attempts: 1, timeoutMs: 5_000 });
  }

  async send(m: Message): Promise<{ thread?: string }> {
    const incident = incidentOf(m);
    const body =
      incident.action === 'resolve'
        ? { routing_key: await this.routingKey(), event_action: 'resolve', dedup_key: incident.key }
        : {
            routing_key: await this.routingKey(),
            event_action: 'trigger',
            dedup_key: incident.key,
            client: 'Runaway Watchdog',
            payload: {
              summary: m.title.slice(0, 1024),
              source: SOURCE,
              severity: PD_SEVERITY[m.severity],
              class: m.kind,
              ...(typeof m.data.connection === 'string' ? { component: m.data.connection } : {}),
              ...(typeof m.data.policy === 'string' ? { group: m.data.policy } : {}),
              custom_details: { text: m.text, ...Object.fromEntries(m.fields), ...m.data, ...lookAt(m) },
            },
          };
    await accepted('pagerduty', this.client, '/v2/enqueue', { 'content-type': 'application/json' }, body);
    return {};
  }
}

/** Where the person paged looks next: the execution's audit trail (and the chat thread it was posted in). */
function lookAt(m: Message): { show?: string } {
  return m.executionId ? { show: `npx watchdog show ${m.executionId}` } : {};
}

const OG_PRIORITY: Record<Severity, 'P2' | 'P3' | 'P5'> = { alert: 'P2', warning: 'P3', info: 'P5' };

export class OpsgenieNotifier implements Notifier {
  private readonly client: HttpClient;
  constructor(
    readonly target: string,
    apiUrl: string,
    private readonly apiKey: () => Promise<string>,
  ) {
    this.client = new HttpClient(new URL(apiUrl).origin, { attempts: 1, timeoutMs: 5_000 });
  }

  async send(m: Message): Promise<{ thread?: string }> {
    const incident = incidentOf(m);
    const headers = { 'content-type': 'application/json', authorization: `GenieKey ${await this.apiKey()}` };
    const [path, body] =
      incident.action === 'resolve'
        ? [`/v2/alerts/${encodeURIComponent(incident.key)}/close?identifierType=alias`, { source: SOURCE, note: m.text.slice(0, 25_000) }]
        : [
            '/v2/alerts',
            {
              message: m.title.slice(0, 130),
              alias: incident.key.slice(0, 512),
              description: [m.text, ...m.fields.map(([k, v]) => `${k}: ${v}`)].join('\n').slice(0, 15_000),
              priority: OG_PRIORITY[m.severity],
              source: SOURCE,
              tags: [m.kind],
              details: Object.fromEntries(Object.entries({ ...m.data, ...lookAt(m) }).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
              ...(m.executionId ? { entity: m.executionId } : {}),
            },
          ];
    await accepted('opsgenie', this.client, path, headers, body);
    return {};
  }
}
