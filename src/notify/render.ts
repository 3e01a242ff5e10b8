/** Pure: turn an execution and a queued notice into a channel-neutral Message. */
import { formatDuration } from '../core/duration.js';
import type { Execution, Notice } from '../core/model.js';
import { progressFraction } from '../core/model.js';
import { type Policy, describeLimits } from '../core/policy.js';
import { KEEP_FOR } from './actions.js';
import { SLACK, actorText, slackEscape } from './markup.js';
import type { EventKind, Incident, Message } from './types.js';

const iso = (t: number) => new Date(t).toISOString();

/** The facts of an execution a message shows: what, which policy, each limit used of allowed, progress. */
export function executionFields(e: Execution, policy: Policy, now: number): Array<[string, string]> {
  const out: Array<[string, string]> = [
    ['Execution', `${e.connection}/${e.externalId}`],
    ['Id', e.id],
    ['Policy', `${policy.name}${policy.mode === 'dry-run' ? ' (dry-run)' : ''}`],
  ];
  for (const l of describeLimits(e, policy, now)) {
    out.push(
      l.reason === 'cost'
        ? ['Cost', `$${l.used.toFixed(2)} of $${l.limit.toFixed(2)}`]
        : [l.reason[0]!.toUpperCase() + l.reason.slice(1), `${formatDuration(l.used)} of ${formatDuration(l.limit)}`],
    );
  }
  const f = progressFraction(e.progress);
  if (f !== undefined) out.push(['Progress', `${Math.round(f * 100)}%`]);
  return out;
}

/** What a notice is about, for routing: a cancel that failed or stayed unconfirmed (and its resolution) is its own kind. */
export function eventKindOf(notice: Pick<Notice, 'kind' | 'state'>): EventKind {
  if (notice.kind === 'warning' || notice.kind === 'would_cancel') return notice.kind;
  if (notice.kind === 'approval' || notice.kind === 'kept') return 'approval';
  if (notice.state === 'cancel_failed' || notice.state === 'cancel_unconfirmed') return notice.state;
  return 'stopped';
}

/** The incident of a run the watchdog could not stop: opened by the failure, resolved when the run is seen stopped. */
export const stopIncident = (e: Pick<Execution, 'id'>, action: Incident['action']): Incident => ({ key: `watchdog/${e.id}/stop`, action });

export function renderNotice(e: Execution, notice: Notice, policy: Policy, now: number): Message {
  const name = `${e.connection}/${e.externalId}`;
  const reasons = notice.reasons ?? e.stopReasons ?? [];
  const data = {
    kind: notice.kind,
    executionId: e.id,
    connection: e.connection,
    provider: e.provider,
    externalId: e.externalId,
    policy: e.policy,
    state: notice.state,
    reasons,
    at: iso(now),
    ...(e.lastError ? { error: e.lastError } : {}),
  };
  const base = { kind: eventKindOf(notice), executionId: e.id, fields: executionFields(e, policy, now), data };
  switch (notice.kind) {
    case 'warning': {
      const deadline = describeLimits(e, policy, now)
        .filter((l) => reasons.includes(l.reason as never) && l.deadline !== undefined)
        .map((l) => l.deadline as number)
        .sort((a, b) => a - b)[0];
      const when = deadline === undefined ? 'when the limit is reached' : `in ${formatDuration(Math.max(0, deadline - now))}`;
      return {
        ...base,
        severity: 'warning',
        actions: 'warning',
        title: `Runaway warning: ${name}`,
        text: `Near its ${reasons.join(', ')} limit. ${policy.mode === 'dry-run' ? 'Policy is dry-run: it would be cancelled' : policy.onBreach === 'approve' ? 'You will be asked whether to cancel it' : 'It will be cancelled'} ${when} unless extended.`,
      };
    }
    case 'would_cancel':
      return {
        ...base,
        severity: 'warning',
        title: `Would cancel (dry-run): ${name}`,
        text: `Limits breached: ${reasons.join(', ')}. Policy "${policy.name}" is in dry-run, so nothing was cancelled.`,
      };
    case 'outcome':
      switch (notice.state) {
        case 'cancelled':
          return {
            ...base,
            severity: 'info',
            title: `Cancelled: ${name}`,
            text: `Cancelled by the watchdog (${reasons.join(', ') || 'manual'})${e.requestedBy ? `, requested by ${e.requestedBy.id}` : ''}.`,
            // In Slack the person who asked is a mention (the text keeps the id for other targets).
            slackText: `Cancelled by the watchdog (${slackEscape(reasons.join(', ') || 'manual')})${e.requestedBy ? `, requested by ${actorText(SLACK, e.requestedBy.id)}` : ''}.`,
          };
        case 'finished':
          return {
            ...base,
            severity: 'info',
            title: `Finished: ${name}`,
            text: `It finished on its own${e.providerStatus ? ` (provider status ${e.providerStatus})` : ''}; nothing was cancelled.`,
          };
        case 'cancel_failed':
          return {
            ...base,
            incident: stopIncident(e, 'trigger'),
            severity: 'alert',
            title: `Cancel FAILED: ${name}`,
            text: `The provider cancel failed: ${e.lastError ?? 'unknown error'}. It may still be running: cancel it by hand.`,
          };
        case 'cancel_unconfirmed':
          return {
            ...base,
            incident: stopIncident(e, 'trigger'),
            severity: 'alert',
            title: `Cancel unconfirmed: ${name}`,
            text: `The provider accepted the cancel but still reports ${e.providerStatus ?? 'it running'} after the confirmation window. Check it by hand.`,
          };
        default:
          return { ...base, severity: 'info', title: `${name}: ${notice.state}`, text: `Now ${notice.state}.` };
      }
    case 'approval': {
      const a = e.approval;
      const until = a?.until ?? now;
      const silence = policy.onSilence === 'keep' ? 'it keeps running' : 'it is cancelled';
      const ceiling = policy.hardMaxCostUsd !== undefined ? ` At $${policy.hardMaxCostUsd} it is cancelled without asking (hardMaxCostUsd).` : '';
      const how = `Cancel now, or Keep running ${KEEP_FOR} (up to the policy's maxExtension ${formatDuration(policy.maxExtensionMs)}): the buttons in Slack, or \`cancel ${e.id}\` / \`keep ${e.id}\` (Discord: /watchdog keep, Teams: @watchdog keep).`;
      return {
        ...base,
        severity: 'warning',
        actions: 'approval',
        title: `Approval needed: ${name}`,
        text: `Breached its ${reasons.join(', ')} limit. Policy "${policy.name}" asks before cancelling. ${how} No answer by ${iso(until).slice(11, 16)} UTC (in ${formatDuration(Math.max(0, until - now))}): ${silence}.${ceiling}`,
      };
    }
    case 'kept':
      return {
        ...base,
        severity: 'warning',
        title: `No answer, kept running: ${name}`,
        text: `Nobody answered the approval request for its ${reasons.join(', ')} limit in time; policy "${policy.name}" keeps it running (onSilence: keep). A new breach asks again${policy.hardMaxCostUsd !== undefined ? `; at $${policy.hardMaxCostUsd} it is cancelled` : ''}.`,
      };
    case 'resolved':
      return {
        ...base,
        incident: stopIncident(e, 'resolve'),
        severity: 'info',
        title: `Stopped after all: ${name}`,
        text: `The platform now reports it ${e.providerStatus ?? 'stopped'}: it is no longer running. The ${notice.state === 'cancel_failed' ? 'failed' : 'unconfirmed'} cancel's incident is resolved.`,
      };
  }
}

/** A sweep-level alert (not about one execution), e.g. the cancel cap. */
export function alertMessage(kind: EventKind, incident: Incident | undefined, title: string, text: string, data: Record<string, unknown>): Message {
  return { kind, ...(incident ? { incident } : {}), severity: 'alert', title, text, fields: [], data: { kind: 'alert', ...data } };
}
