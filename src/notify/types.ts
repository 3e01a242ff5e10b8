/** Where warnings and outcomes go. Each notify target in the config becomes one Notifier. */
export type Severity = 'info' | 'warning' | 'alert';

/** A rendered notification: the same content for every channel, each renders its own way. */
export interface Message {
  severity: Severity;
  title: string;
  text: string;
  /** `text` is Slack mrkdwn already (escaped by whoever built it): Slack shows it as is. */
  mrkdwn?: boolean;
  /** The text as Slack mrkdwn (mentions of people), when it differs from `text` escaped. */
  slackText?: string;
  fields: Array<[string, string]>;
  /** The execution the message is about (buttons carry it). */
  executionId?: string;
  /** Offer Extend / Cancel now / Snooze buttons (warnings). */
  actions?: boolean;
  /** Machine-readable payload for webhooks. */
  data: Record<string, unknown>;
}

export interface Notifier {
  readonly target: string;
  /** Deliver; `thread` continues an earlier conversation. Throws on failure. */
  send(message: Message, thread?: string): Promise<{ thread?: string }>;
}

export class NotifyError extends Error {
  override name = 'NotifyError';
}
