/**
 * Slack Web API `chat.postMessage` with Block Kit: a header line, the fields, and for
 * warnings the Extend / Cancel now / Snooze buttons. Later messages go to the thread.
 */
import { HttpClient } from '../providers/http.js';
import { warningActions, encodeAction } from './actions.js';
import { slackEscape as escape } from './markup.js';
import { type Message, type Notifier, NotifyError } from './types.js';

const EMOJI = { info: ':white_check_mark:', warning: ':warning:', alert: ':rotating_light:' } as const;

export function slackBlocks(m: Message): unknown[] {
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${EMOJI[m.severity]} *${escape(m.title)}*\n${escape(m.text)}` } },
  ];
  if (m.fields.length > 0) {
    blocks.push({ type: 'section', fields: m.fields.slice(0, 10).map(([k, v]) => ({ type: 'mrkdwn', text: `*${escape(k)}*\n${escape(v)}` })) });
  }
  if (m.actions && m.executionId) {
    blocks.push({
      type: 'actions',
      block_id: 'watchdog_actions',
      elements: warningActions(m.executionId).map((b) => ({
        type: 'button', text: { type: 'plain_text', text: b.label }, action_id: `watchdog_${b.action.a}`, value: encodeAction(b.action), ...(b.style ? { style: b.style } : {}),
      })),
    });
  }
  return blocks;
}


export class SlackNotifier implements Notifier {
  private readonly client: HttpClient;
  constructor(
    readonly target: string,
    private readonly channel: string,
    private readonly token: () => Promise<string>,
    apiUrl = 'https://slack.com/api',
  ) {
    // One attempt per call: a failed post is retried by the sweep's notification outbox.
    this.client = new HttpClient(apiUrl, { attempts: 1, timeoutMs: 5_000 });
  }

  async send(m: Message, thread?: string): Promise<{ thread?: string }> {
    const body = JSON.stringify({ channel: this.channel, text: escape(`${m.title}: ${m.text}`), blocks: slackBlocks(m), ...(thread ? { thread_ts: thread } : {}) });
    const res = await this.client.request('POST', '/chat.postMessage', {
      authorization: `Bearer ${await this.token()}`, 'content-type': 'application/json; charset=utf-8',
    }, body).catch((err: Error) => {
      throw new NotifyError(`slack: ${err.message}`);
    });
    const json = res.json as { ok?: boolean; ts?: string; error?: string } | undefined;
    if (res.status !== 200 || !json?.ok) throw new NotifyError(`slack: ${json?.error ?? `HTTP ${res.status}`}`);
    return json.ts ? { thread: thread ?? json.ts } : {};
  }
}
