/** Where warnings and outcomes go. Each notify target in the config becomes one Notifier. */
export type Severity = 'info' | 'warning' | 'alert';

/**
 * What a message is about, for routing (a notify target's `on`): warnings, dry-run
 * would-cancels, a run stopped (cancelled, or finished before the cancel), the two cancel
 * failures, and the watchdog's own trouble (docs/oncall.md).
 */
export const EVENT_KINDS = [
  'warning',
  'would_cancel',
  /** Approval mode: a request to decide (and its silence kept the run). */
  'approval',
  'stopped',
  'cancel_failed',
  'cancel_unconfirmed',
  'quarantined',
  'connection',
  'heartbeats_held',
  'cap_reached',
  /** The periodic report (settings.digest): goes to the targets the digest names, whatever their `on`. */
  'digest',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
/** The kinds an incident tool (PagerDuty, Opsgenie) gets unless its `on` says otherwise: trouble only. */
export const INCIDENT_KINDS: readonly EventKind[] = ['cancel_failed', 'cancel_unconfirmed', 'quarantined', 'connection', 'heartbeats_held', 'cap_reached'];

/**
 * An incident a message opens or resolves: one key per condition (an execution's failed
 * cancel, a connection's health), so a repeat updates the open incident and the resolve
 * closes it (PagerDuty's dedup_key, Opsgenie's alias). Chat shows these as messages.
 */
export interface Incident {
  key: string;
  action: 'trigger' | 'resolve';
}

/** A rendered notification: the same content for every channel, each renders its own way. */
export interface Message {
  kind: EventKind;
  /** Set on trouble that opens an incident, and on the message that says it cleared. */
  incident?: Incident;
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
  /** Buttons to offer: a warning's Extend / Cancel now / Snooze, or an approval request's Cancel now / Keep running. */
  actions?: 'warning' | 'approval';
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
