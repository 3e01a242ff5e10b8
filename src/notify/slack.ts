/**
 * Slack Web API `chat.postMessage` with Block Kit: a header line, the fields, and for
 * warnings the Extend / Cancel now / Snooze buttons. Later messages go to the thread.
 */
import { HttpClient } from '../providers/http.js';
import { type Execution, isTerminal } from '../core/model.js';
import type { Policy } from '../core/policy.js';
import { approvalActions, warningActions, encodeAction } from './actions.js';
import { eventKindOf, executionFields } from './render.js';
import { clip, slackEscape as escape } from './markup.js';
import { type Message, type Notifier, NotifyError } from './types.js';

const EMOJI = { info: ':white_check_mark:', warning: ':warning:', alert: ':rotating_light:' } as const;

/** Slack's limits: a section's text 3,000 characters, each field 2,000 (counted after escaping). */
const SECTION_MAX = 3_000;
const FIELD_MAX = 2_000;

/** The Block Kit we send, typed exactly (test/notify/conformance.test.ts checks it against @slack/types). */
export interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}
export type SlackBlock =
  | { type: 'section'; text: Mrkdwn }
  | { type: 'section'; fields: Mrkdwn[] }
  | {
      type: 'actions';
      block_id: string;
      elements: Array<{ type: 'button'; text: { type: 'plain_text'; text: string }; action_id: string; value: string; style?: 'primary' | 'danger' }>;
    };

export function slackBlocks(m: Message): SlackBlock[] {
  const blocks: SlackBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(`${EMOJI[m.severity]} *${clip(escape(m.title), 500)}*\n${m.slackText ?? (m.mrkdwn ? m.text : escape(m.text))}`, SECTION_MAX),
      },
    },
  ];
  if (m.fields.length > 0) {
    blocks.push({
      type: 'section',
      fields: m.fields.slice(0, 10).map(([k, v]) => ({ type: 'mrkdwn', text: clip(`*${clip(escape(k), 100)}*\n${escape(v)}`, FIELD_MAX) })),
    });
  }
  if (m.actions && m.executionId) {
    blocks.push({
      type: 'actions',
      block_id: 'watchdog_actions',
      elements: (m.actions === 'approval' ? approvalActions : warningActions)(m.executionId).map((b) => ({
        type: 'button' as const,
        text: { type: 'plain_text' as const, text: b.label },
        action_id: `watchdog_${b.action.a}`,
        value: encodeAction(b.action),
        ...(b.style ? { style: b.style } : {}),
      })),
    });
  }
  return blocks;
}

/**
 * The warning after a person acted on it (a button): the same execution, what was done and by
 * whom, its limits now (the new deadline after an extension), and the buttons that still make
 * sense — none once a cancel is under way or the execution has ended.
 */
/** The warning replaced after a button press: `what` is Slack mrkdwn already (escaped, mentions included). */
export function slackActionMessage(e: Execution, policy: Policy, what: string, now: number): { text: string; blocks: SlackBlock[] } {
  const live = e.state === 'running' || e.state === 'warned' || e.state === 'cancel_requested';
  const m: Message = {
    kind: isTerminal(e.state) ? eventKindOf({ kind: 'outcome', state: e.state }) : 'warning',
    severity: isTerminal(e.state) ? (e.state === 'cancelled' || e.state === 'finished' ? 'info' : 'alert') : 'warning',
    title: `${e.connection}/${e.externalId}: ${e.state}`,
    text: what,
    mrkdwn: true,
    fields: executionFields(e, policy, now),
    executionId: e.id,
    // A request still waiting for its answer keeps its two buttons; otherwise a warning's.
    ...(live
      ? {
          actions: e.approval !== undefined && e.approval.answer === undefined && e.state !== 'cancel_requested' ? ('approval' as const) : ('warning' as const),
        }
      : {}),
    data: {},
  };
  return { text: clip(`${escape(m.title)}: ${what}`, SECTION_MAX), blocks: slackBlocks(m) };
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
    const body = JSON.stringify({
      channel: this.channel,
      text: clip(escape(`${m.title}: ${m.text}`), SECTION_MAX),
      blocks: slackBlocks(m),
      ...(thread ? { thread_ts: thread } : {}),
    });
    const res = await this.client
      .request(
        'POST',
        '/chat.postMessage',
        {
          authorization: `Bearer ${await this.token()}`,
          'content-type': 'application/json; charset=utf-8',
        },
        body,
      )
      .catch((err: Error) => {
        throw new NotifyError(`slack: ${err.message}`);
      });
    const json = res.json as { ok?: boolean; ts?: string; error?: string } | undefined;
    if (res.status !== 200 || !json?.ok) throw new NotifyError(`slack: ${json?.error ?? `HTTP ${res.status}`}`);
    return json.ts ? { thread: thread ?? json.ts } : {};
  }
}
