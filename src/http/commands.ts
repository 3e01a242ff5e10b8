/**
 * Chat commands, the same for Slack, Discord and Teams:
 *   cancel <id> [reason] · extend <id> <duration> [reason] · keep <id> [duration] · snooze <id> [duration]
 *   status <id> · list [connection|policy] · coverage · help
 * `<id>` is a wd_… id or <connection>/<externalId>. Cancel, extend, keep and snooze need the
 * person (or the channel) to be allowed by the execution's policy; every action is
 * audited with the person's id, the tool and the reason.
 */
import { formatDuration, parseDuration } from '../core/duration.js';
import { type Actor, type Execution, type ReplyTo, isTerminal } from '../core/model.js';
import { describeLimits } from '../core/policy.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Log } from '../log.js';
import { redact } from '../log.js';
import { policyByName } from '../config/load.js';
import { KEEP_FOR } from '../notify/actions.js';
import { approvalText } from '../core/approval.js';
import { type Markup, PLAIN, actorText } from '../notify/markup.js';
import type { Runtime } from '../runtime.js';
import { type Who, authorize } from '../app/service.js';
import type { WriteOutcome } from '../store/types.js';

export type { Who };

export type Command =
  | { cmd: 'cancel'; ref: string; reason?: string }
  | { cmd: 'extend'; ref: string; duration: string; reason?: string }
  | { cmd: 'snooze'; ref: string; duration: string }
  | { cmd: 'keep'; ref: string; duration: string }
  | { cmd: 'status'; ref: string }
  | { cmd: 'list'; filter?: string }
  | { cmd: 'coverage' }
  | { cmd: 'help' };

/** How a command is written in this tool: `cancel <id> [reason]`, or Discord's `/watchdog cancel id:<id> [reason:…]`. */
export function usage(m: Markup, verb: string, args: ReadonlyArray<readonly [name: string, optional: boolean]>): string {
  const text =
    m.commands === 'options'
      ? ['/watchdog', verb, ...args.map(([n, opt]) => (opt ? `[${n}:…]` : `${n}:<${n}>`))].join(' ')
      : [verb, ...args.map(([n, opt]) => (opt ? `[${n}]` : `<${n}>`))].join(' ');
  return m.code(m.literal(text));
}

/** The help text, in the platform's markup and command syntax. */
export function helpText(m: Markup): string {
  const options = m.commands === 'options';
  return [
    `${m.bold('Runaway Watchdog')} commands:`,
    `${usage(m, 'cancel', [
      ['id', false],
      ['reason', true],
    ])} — cancel an execution now`,
    `${usage(m, 'extend', [
      ['id', false],
      ['duration', false],
      ['reason', true],
    ])} — give it more time (e.g. 30m), up to the policy maximum`,
    `${usage(m, 'keep', [
      ['id', false],
      ['duration', true],
    ])} — answer an approval request: keep it running (default ${KEEP_FOR}, up to the policy maximum)`,
    `${usage(m, 'snooze', [
      ['id', false],
      ['duration', true],
    ])} — silence warnings (default 1h, up to the policy's maxSnooze); limits still apply`,
    `${usage(m, 'status', [['id', false]])} — state, limits and recent actions`,
    `${usage(m, 'list', [[options ? 'filter' : 'connection|policy', true]])} — executions being watched${options ? ' (filter: a connection or a policy)' : ''}`,
    `${usage(m, 'coverage', [])} — per connection: running on the platform vs tracked (as of the last discovery)`,
    `${m.code(m.literal(options ? 'id' : '<id>'))} is a wd_… id or ${m.code(m.literal('<connection>/<externalId>'))}.`,
  ].join(m.nl);
}

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
    case 'keep': {
      const duration = rest[0] ?? KEEP_FOR;
      if (!ref || parseDuration(duration) === undefined) return { error: `usage: keep <id> [duration like ${KEEP_FOR}]` };
      return { cmd: 'keep', ref, duration };
    }
    case 'status':
    case 'show':
      if (!ref) return { error: 'usage: status <id>' };
      return { cmd: 'status', ref };
    case 'list':
      return { cmd: 'list', ...(ref ? { filter: ref } : {}) };
    case 'coverage':
      return { cmd: 'coverage' };
    default:
      return { error: `unknown command "${verb?.slice(0, 40)}". Try: help` };
  }
}

export interface CommandResult {
  ok: boolean;
  text: string;
  /** Set when the outcome comes later: resolves with the text to deliver then. */
  later?: Promise<string>;
  /** True for commands that only read (status, list, help): answered privately where the tool allows. */
  readOnly?: boolean;
  /** A cancel recorded but not carried out here (`deferCancel`): the id to hand to a follow-up. */
  deferred?: string;
}

/**
 * What to tell the asker when the in-process part of a cancel is over: its outcome, or
 * (accepted, not yet in effect on the platform) where it stands and that the outcome will
 * follow in the same place — the execution remembers where (`replyTo`), and the sweep's
 * outcome notice goes there once. Ended meanwhile: the outcome now, and nothing remembered.
 */
export async function reportOrAwait(rt: Runtime, e: Execution, reply: ReplyTo | undefined, m: Markup): Promise<string> {
  if (isTerminal(e.state) || !reply) return outcomeText(e, m);
  const now = await rt.watchdog.awaitOutcome(e.id, reply);
  if (!now || isTerminal(now.state)) return outcomeText(now ?? e, m);
  return `${outcomeText(now, m)} The outcome will be posted here when it takes effect.`;
}

export function actorOf(who: Who): Actor {
  return { id: `${who.tool}:${who.userId}`, via: who.tool };
}

function nameOf(e: Execution, m: Markup): string {
  return `${m.esc(e.id)} (${m.esc(`${e.connection}/${e.externalId}`)})`;
}

/** What a person reads about where a cancel stands. */
export function outcomeText(e: Execution, m: Markup): string {
  const name = nameOf(e, m);
  switch (e.state) {
    case 'cancelled':
      return `Cancelled ${name}.`;
    case 'finished':
      return `${name} had already finished${e.providerStatus ? ` (${m.esc(e.providerStatus)})` : ''}; nothing to cancel.`;
    case 'cancel_failed':
      return `Cancel of ${name} FAILED: ${m.esc(e.lastError ?? 'unknown error')}.`;
    case 'cancel_unconfirmed':
      return `Cancel of ${name} was accepted but is not confirmed.`;
    case 'cancelling':
      // Only what the provider said: a claimed cancel whose call has not been answered is not "accepted".
      return e.cancelAcceptedAt !== undefined
        ? `Cancel of ${name} accepted by the provider; waiting for it to take effect.`
        : `Cancel of ${name} sent; the provider has not answered yet. The watchdog reads its status and carries the cancel through.`;
    default:
      return `Cancel of ${name} requested; the watchdog retries until the provider answers${e.lastError ? ` (last error: ${m.esc(e.lastError)})` : ''}.`;
  }
}

function statusText(rt: Runtime, e: Execution, events: Array<{ at: number; actor: Actor; what: string; detail?: string }>, m: Markup): string {
  const policy = rt.watchdog.policyOf(e);
  const now = rt.watchdog.now();
  const limits = describeLimits(e, policy, now).map((l) =>
    l.reason === 'cost' ? `cost $${l.used.toFixed(2)}/$${l.limit.toFixed(2)}` : `${l.reason} ${formatDuration(l.used)}/${formatDuration(l.limit)}`,
  );
  const recent = events
    .slice(-4)
    .map(
      (ev) => `• ${new Date(ev.at).toISOString().slice(11, 19)} ${m.esc(ev.what)} — ${actorText(m, ev.actor.id)}${ev.detail ? ` (${m.esc(ev.detail)})` : ''}`,
    );
  const head = `${m.bold(m.esc(e.id))} ${m.esc(`${e.connection}/${e.externalId}`)}: ${m.bold(e.state)} (policy ${m.esc(policy.name)}${policy.mode === 'dry-run' ? ', dry-run' : ''})`;
  const approval = e.approval
    ? [`Approval: ${m.esc(approvalText(e.approval, (t) => (t === undefined ? '-' : new Date(t).toISOString().slice(11, 16) + ' UTC')))}`]
    : [];
  return [head, limits.join(' · '), ...approval, ...recent].join(m.nl);
}

const LIVE = ['running', 'warned', 'cancel_requested', 'cancelling'] as const;

/**
 * Coverage as of each connection's last discovery (a live listing would not fit a chat
 * answer's seconds; `watchdog coverage` lists live). A person sees the connections whose
 * discovery policy (else the default policy) lets them view.
 */
async function coverageText(rt: Runtime, who: Who, m: Markup): Promise<string> {
  const visible = [...rt.config.connections]
    .filter(([, c]) => {
      const p = policyByName(rt.config, c.discover?.policy ?? rt.config.defaultPolicy);
      return p !== undefined && authorize(who, 'view', p);
    })
    .map(([name]) => name);
  if (visible.length === 0) return 'No connections whose coverage you may see.';
  const now = rt.watchdog.now();
  const rows = await rt.coverage({ live: false, connections: visible });
  return rows
    .map((r) => {
      const name = m.bold(m.esc(r.connection));
      if (!r.listable) return `${name}: ${m.esc(r.provider)} has no list of running executions; only tracked runs are watched`;
      if (r.lastDiscoveryAt === undefined)
        return `${name}: discovery ${r.discover ? 'has not run yet' : 'is off'} (${m.code('watchdog coverage')} lists it live)`;
      const ago = formatDuration(Math.max(0, now - r.lastDiscoveryAt));
      const untracked = r.untrackedCount ?? 0;
      const list =
        untracked > 0
          ? `: ${r.untracked
              ?.slice(0, 5)
              .map((id) => m.esc(id))
              .join(', ')}${untracked > 5 ? ', …' : ''}`
          : '';
      return `${name}: ${r.running ?? 0} running — ${r.tracked ?? 0} tracked, ${r.byDiscovery ?? 0} found by discovery, ${untracked} untracked${list} (${ago} ago${r.error ? `; ${m.esc(r.error)}` : ''})`;
    })
    .join(m.nl);
}

/**
 * Lines of an answer, as many as the tool shows whole (its `maxChars`), then how many were
 * left out and how to narrow the list, in the tool's own command syntax.
 */
export function withinBudget(lines: readonly string[], total: number, m: Markup): string {
  const hint = (left: number) => `… and ${left} more: narrow it with ${usage(m, 'list', [[m.commands === 'options' ? 'filter' : 'connection|policy', false]])}`;
  // Room for the lines, and for the hint should any be left out.
  const room = m.maxChars - m.nl.length - hint(total).length;
  const kept: string[] = [];
  let size = 0;
  for (const line of lines) {
    const next = size + (kept.length > 0 ? m.nl.length : 0) + line.length;
    if (next > room) break;
    kept.push(line);
    size = next;
  }
  return kept.length === total ? kept.join(m.nl) : [...kept, hint(total - kept.length)].join(m.nl);
}

/** Who may act under a policy, as this tool shows people and channels. */
function whoMay(allow: { users: readonly string[]; channels: readonly string[] }, m: Markup): string {
  const people = [
    ...allow.users.map((u) => m.mention('user', u) ?? m.esc(u)),
    ...allow.channels.map((c) => `members of ${m.mention('channel', c) ?? m.esc(c)}`),
  ];
  if (people.length === 0) return 'nobody may act on it from chat';
  const shown = people.slice(0, 10);
  return `only ${shown.join(', ')}${people.length > shown.length ? ` and ${people.length - shown.length} more` : ''} may`;
}

/** A cancel the state refused, in words. */
function cannotCancel(ref: string, r: Exclude<WriteOutcome, { ok: true }>, m: Markup): CommandResult {
  const why =
    r.outcome === 'cancel_in_progress' || r.outcome === 'lease_held'
      ? 'a cancel is already in progress'
      : r.outcome === 'terminal' && 'execution' in r
        ? `it is already ${r.execution.state}`
        : r.outcome;
  return { ok: false, text: `Cannot cancel ${m.esc(ref)}: ${why}.` };
}

/** Run one command for a person; never throws (errors become the reply, escaped for the tool). */
export async function runCommand(
  rt: Runtime,
  cmd: Command,
  who: Who,
  o: {
    budgetMs: number;
    log: Log;
    markup?: Markup;
    deferCancel?: boolean;
    /** Where the asker can still be told later (Slack's response_url, a Discord follow-up): the settled outcome goes there. */
    replyTo?: ReplyTo;
    /**
     * A button on a message the channel already sees: a refusal says who may act instead of
     * "no tracked execution" (which keeps a typed command from learning that an id exists).
     */
    onMessage?: boolean;
  },
): Promise<CommandResult> {
  const m = o.markup ?? PLAIN;
  try {
    if (cmd.cmd === 'help') return { ok: true, readOnly: true, text: helpText(m) };
    if (cmd.cmd === 'list') {
      const pages = await Promise.all(LIVE.map((state) => rt.watchdog.list({ state, limit: 50 })));
      let items = pages.flatMap((p) => p.items).filter((e) => rt.watchdog.authorize(who, 'view', e));
      if (cmd.filter) items = items.filter((e) => e.connection === cmd.filter || e.policy === cmd.filter);
      if (items.length === 0) return { ok: true, readOnly: true, text: 'No executions being watched that you may see.' };
      const lines = items.slice(0, 20).map((e) => `• ${m.esc(e.id)} ${m.esc(`${e.connection}/${e.externalId}`)} — ${e.state}`);
      return { ok: true, readOnly: true, text: withinBudget(lines, items.length, m) };
    }
    if (cmd.cmd === 'coverage') return { ok: true, readOnly: true, text: await coverageText(rt, who, m) };
    const id = rt.watchdog.resolveId(cmd.ref);
    const notTracked = { ok: false, text: `No tracked execution ${m.esc(cmd.ref)}.` };
    if (cmd.cmd === 'status') {
      const found = await rt.store.getWithEvents(id);
      // Not visible reads exactly like not tracked: a refusal must not reveal that it exists.
      if (!found || !rt.watchdog.authorize(who, 'view', found.execution)) return { ...notTracked, readOnly: true };
      return { ok: true, readOnly: true, text: statusText(rt, found.execution, found.events, m) };
    }
    const current = await rt.store.get(id);
    if (!current) return notTracked;
    const policy = rt.watchdog.policyOf(current);
    if (!authorize(who, 'act', policy)) {
      o.log.warn('chat action refused: not allowed', { executionId: id, actor: `${who.tool}:${who.userId}`, channel: who.channelId, command: cmd.cmd });
      if (o.onMessage) return { ok: false, text: `You may not ${cmd.cmd} this execution: ${whoMay(policy.allow, m)} (policy "${m.esc(policy.name)}").` };
      if (!authorize(who, 'view', policy)) return notTracked;
      return { ok: false, text: `You are not allowed to ${cmd.cmd} executions under policy "${m.esc(policy.name)}".` };
    }
    const actor = actorOf(who);
    if (cmd.cmd === 'extend') {
      const e = await rt.watchdog.extend(id, cmd.duration, actor, cmd.reason);
      return { ok: true, text: `Extended ${m.esc(e.id)} by ${m.esc(cmd.duration)} (by ${actorText(m, actor.id, who.name)}).` };
    }
    if (cmd.cmd === 'keep') {
      const e = await rt.watchdog.keep(id, cmd.duration, actor);
      const granted = e.extensions.at(-1)?.ms;
      return {
        ok: true,
        text: `Kept ${m.esc(e.id)} running for ${granted === undefined ? m.esc(cmd.duration) : formatDuration(granted)} (by ${actorText(m, actor.id, who.name)}).`,
      };
    }
    if (cmd.cmd === 'snooze') {
      await rt.watchdog.snooze(id, cmd.duration, actor);
      return { ok: true, text: `Warnings for ${m.esc(id)} snoozed for ${m.esc(cmd.duration)}.` };
    }
    if (o.deferCancel) {
      // Lambda: record the request now; a follow-up invocation carries it out and reports.
      const requested = await rt.watchdog.requestCancel(id, actor, cmd.reason);
      if (!requested.ok) return cannotCancel(cmd.ref, requested, m);
      return { ok: true, deferred: id, text: `Cancel of ${m.esc(id)} requested by ${actorText(m, actor.id, who.name)}; the outcome will follow.` };
    }
    const r = await rt.watchdog.cancelNow(id, actor, cmd.reason, o.budgetMs);
    if (!('status' in r)) return cannotCancel(cmd.ref, r, m);
    if (r.status === 'done') return { ok: r.execution.state !== 'cancel_failed', text: outcomeText(r.execution, m) };
    return {
      ok: true,
      text: `Cancel of ${m.esc(id)} requested by ${actorText(m, actor.id, who.name)}; waiting for the provider. The outcome will follow.`,
      later: r.settled.then((e) => reportOrAwait(rt, e, o.replyTo, m)),
    };
  } catch (err) {
    if (err instanceof InputError || err instanceof NotFoundError) return { ok: false, text: m.esc(err.message) };
    o.log.error('chat command failed', { command: cmd.cmd, error: redact((err as Error).message) });
    return { ok: false, text: 'Something went wrong on the watchdog side; the operators have the details in its logs.' };
  }
}
