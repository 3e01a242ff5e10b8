/**
 * Chat commands, the same for Slack, Discord and Teams:
 *   cancel <id> [reason] · extend <id> <duration> [reason] · snooze <id> [duration]
 *   status <id> · list [connection|policy] · help
 * `<id>` is a wd_… id or <connection>/<externalId>. Cancel, extend and snooze need the
 * person (or the channel) to be allowed by the execution's policy; every action is
 * audited with the person's id, the tool and the reason.
 */
import { formatDuration, parseDuration } from '../core/duration.js';
import type { Actor, Execution } from '../core/model.js';
import { describeLimits } from '../core/policy.js';
import { snooze as snoozeTransition } from '../core/transitions.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Log } from '../log.js';
import { redact } from '../log.js';
import type { Runtime } from '../runtime.js';

export type ChatTool = 'slack' | 'discord' | 'teams' | 'hook';

export interface Who {
  tool: ChatTool;
  userId: string;
  channelId?: string;
}

export type Command =
  | { cmd: 'cancel'; ref: string; reason?: string }
  | { cmd: 'extend'; ref: string; duration: string; reason?: string }
  | { cmd: 'snooze'; ref: string; duration: string }
  | { cmd: 'status'; ref: string }
  | { cmd: 'list'; filter?: string }
  | { cmd: 'help' };

export const HELP = [
  '*Runaway Watchdog* commands:',
  '`cancel <id> [reason]` — cancel an execution now',
  '`extend <id> <duration> [reason]` — give it more time (e.g. 30m), up to the policy maximum',
  '`snooze <id> [duration]` — silence warnings (default 1h); limits still apply',
  '`status <id>` — state, limits and recent actions',
  '`list [connection|policy]` — executions being watched',
  '`<id>` is a wd_… id or <connection>/<externalId>.',
].join('\n');

export function parseCommand(text: string): Command | { error: string } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [verb, ref, ...rest] = words;
  const tail = (from: string[]) => (from.length ? from.join(' ').slice(0, 500) : undefined);
  switch ((verb ?? 'help').toLowerCase()) {
    case 'help':
      return { cmd: 'help' };
    case 'cancel':
    case 'stop':
      if (!ref) return { error: 'usage: cancel <id> [reason]' };
      return { cmd: 'cancel', ref, ...(tail(rest) ? { reason: tail(rest) as string } : {}) };
    case 'extend': {
      const [duration, ...why] = rest;
      if (!ref || !duration || parseDuration(duration) === undefined) return { error: 'usage: extend <id> <duration like 30m> [reason]' };
      return { cmd: 'extend', ref, duration, ...(tail(why) ? { reason: tail(why) as string } : {}) };
    }
    case 'snooze': {
      const duration = rest[0] ?? '1h';
      if (!ref || parseDuration(duration) === undefined) return { error: 'usage: snooze <id> [duration like 1h]' };
      return { cmd: 'snooze', ref, duration };
    }
    case 'status':
    case 'show':
      if (!ref) return { error: 'usage: status <id>' };
      return { cmd: 'status', ref };
    case 'list':
      return { cmd: 'list', ...(ref ? { filter: ref } : {}) };
    default:
      return { error: `unknown command "${verb?.slice(0, 40)}". Try: help` };
  }
}

export interface CommandResult {
  ok: boolean;
  text: string;
  /** Set when the outcome comes later: resolves with the text to deliver then. */
  later?: Promise<string>;
}

export function actorOf(who: Who): Actor {
  return { id: `${who.tool}:${who.userId}`, via: who.tool };
}

function outcomeText(e: Execution): string {
  const name = `${e.id} (${e.connection}/${e.externalId})`;
  switch (e.state) {
    case 'cancelled':
      return `Cancelled ${name}.`;
    case 'finished':
      return `${name} had already finished${e.providerStatus ? ` (${e.providerStatus})` : ''}; nothing to cancel.`;
    case 'cancel_failed':
      return `Cancel of ${name} FAILED: ${e.lastError ?? 'unknown error'}.`;
    case 'cancel_unconfirmed':
      return `Cancel of ${name} was accepted but is not confirmed.`;
    case 'cancelling':
      return `Cancel of ${name} accepted by the provider; waiting for it to take effect.`;
    default:
      return `Cancel of ${name} requested; the watchdog retries until the provider answers${e.lastError ? ` (last error: ${e.lastError})` : ''}.`;
  }
}

function statusText(rt: Runtime, e: Execution, events: Array<{ at: number; actor: Actor; what: string; detail?: string }>): string {
  const policy = rt.watchdog.policyOf(e);
  const now = Date.now();
  const limits = describeLimits(e, policy, now).map((l) => (l.reason === 'cost'
    ? `cost $${l.used.toFixed(2)}/$${l.limit.toFixed(2)}`
    : `${l.reason} ${formatDuration(l.used)}/${formatDuration(l.limit)}`));
  const recent = events.slice(-4).map((ev) => `• ${new Date(ev.at).toISOString().slice(11, 19)} ${ev.what} — ${ev.actor.id}${ev.detail ? ` (${ev.detail})` : ''}`);
  return [`*${e.id}* ${e.connection}/${e.externalId}: *${e.state}* (policy ${policy.name}${policy.mode === 'dry-run' ? ', dry-run' : ''})`, limits.join(' · '), ...recent].join('\n');
}

/** Run one command for a person; never throws (errors become the reply). */
export async function runCommand(rt: Runtime, cmd: Command, who: Who, o: { budgetMs: number; log: Log }): Promise<CommandResult> {
  try {
    if (cmd.cmd === 'help') return { ok: true, text: HELP };
    if (cmd.cmd === 'list') {
      const live = ['running', 'warned', 'cancel_requested', 'cancelling'] as const;
      const pages = await Promise.all(live.map((state) => rt.watchdog.list({ state, limit: 20 })));
      let items = pages.flatMap((p) => p.items);
      if (cmd.filter) items = items.filter((e) => e.connection === cmd.filter || e.policy === cmd.filter);
      if (items.length === 0) return { ok: true, text: 'No executions being watched.' };
      return { ok: true, text: items.slice(0, 20).map((e) => `• ${e.id} ${e.connection}/${e.externalId} — ${e.state}`).join('\n') };
    }
    const id = rt.watchdog.resolveId(cmd.ref);
    if (cmd.cmd === 'status') {
      const { execution, events } = await rt.watchdog.show(id);
      return { ok: true, text: statusText(rt, execution, events) };
    }
    const current = await rt.store.get(id);
    if (!current) return { ok: false, text: `No tracked execution ${cmd.ref}.` };
    const policy = rt.watchdog.policyOf(current);
    const allowed = policy.allow.users.includes(who.userId) || (who.channelId !== undefined && policy.allow.channels.includes(who.channelId));
    if (who.tool !== 'hook' && !allowed) {
      o.log.warn('chat action refused: not allowed', { executionId: id, actor: `${who.tool}:${who.userId}`, channel: who.channelId, command: cmd.cmd });
      return { ok: false, text: `You are not allowed to ${cmd.cmd} executions under policy "${policy.name}".` };
    }
    const actor = actorOf(who);
    if (cmd.cmd === 'extend') {
      const e = await rt.watchdog.extend(id, cmd.duration, actor, cmd.reason);
      return { ok: true, text: `Extended ${e.id} by ${cmd.duration} (by ${actor.id}).` };
    }
    if (cmd.cmd === 'snooze') {
      const ms = parseDuration(cmd.duration) as number;
      const r = await rt.store.mutate(id, (c) => snoozeTransition(c, ms, actor, { now: Date.now(), policy, retentionMs: rt.config.settings.retentionMs }));
      if (!r.ok) return { ok: false, text: `Cannot snooze ${cmd.ref}: ${'execution' in r ? `it is ${r.execution.state}` : r.outcome}.` };
      return { ok: true, text: `Warnings for ${id} snoozed for ${cmd.duration}.` };
    }
    const r = await rt.sweeper.cancelNow(id, actor, cmd.reason, o.budgetMs);
    if (!('status' in r)) {
      const why = r.outcome === 'claimed' ? 'a cancel is already in progress' : r.outcome === 'terminal' && 'execution' in r ? `it is already ${r.execution.state}` : r.outcome;
      return { ok: false, text: `Cannot cancel ${cmd.ref}: ${why}.` };
    }
    if (r.status === 'done') return { ok: r.execution.state !== 'cancel_failed', text: outcomeText(r.execution) };
    return {
      ok: true,
      text: `Cancel of ${id} requested by ${actor.id}; waiting for the provider. The outcome will follow.`,
      later: r.settled.then(outcomeText),
    };
  } catch (err) {
    if (err instanceof InputError || err instanceof NotFoundError) return { ok: false, text: err.message };
    o.log.error('chat command failed', { command: cmd.cmd, error: redact((err as Error).message) });
    return { ok: false, text: 'Something went wrong on the watchdog side; the operators have the details in its logs.' };
  }
}
