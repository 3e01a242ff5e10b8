/** Slack: slash commands and the warning's buttons (interactions), signed with the app's signing secret. */
import { redact } from '../../log.js';
import { decodeAction } from '../../notify/actions.js';
import { SLACK } from '../../notify/markup.js';
import { REPLY_VALID_MS } from '../../notify/reply.js';
import { slackActionMessage } from '../../notify/slack.js';
import { type Command, type Who, parseCommand, runCommand } from '../commands.js';
import type { Handled, HttpRequest } from '../types.js';
import { verifySlack } from '../verify.js';
import { ALREADY, EMPTY_ACK, type RouteContext, allowedResponseUrl, mutating, notFound, slackReply, unauthorized } from './shared.js';

export async function slackVerified(c: RouteContext, req: HttpRequest): Promise<boolean> {
  if (!c.config.slack) return false;
  const secret = await c.secret(c.config.slack.secret, 'signingSecret');
  return verifySlack(secret, req.headers, req.body, c.now());
}

/**
 * Slack's identity of one user action: the trigger id (the same on Slack's own retries,
 * which carry a new signature), else the signature itself.
 */
export function slackIdentity(req: HttpRequest, triggerId: string | undefined): string {
  return triggerId ? `slack:trigger:${triggerId}` : `slack:sig:${req.headers['x-slack-signature'] ?? ''}`;
}

export async function slackCommand(c: RouteContext, req: HttpRequest): Promise<Handled> {
  if (!c.config.slack) return notFound();
  const form = new URLSearchParams(req.body);
  // Slack's certificate check of the slash command's URL: unsigned, answered 200 and nothing
  // else (as Bolt does); it carries no command.
  if (form.get('ssl_check') === '1' && !form.has('command')) return { response: EMPTY_ACK };
  if (!(await slackVerified(c, req))) return unauthorized();
  const userId = form.get('user_id');
  if (!userId) return { response: slackReply('Malformed command: no user.') };
  const parsed = parseCommand(form.get('text') ?? '');
  if ('error' in parsed) return { response: slackReply(SLACK.esc(parsed.error)) };
  if (mutating(parsed) && !(await c.firstSeen(slackIdentity(req, form.get('trigger_id') ?? undefined)))) return { response: slackReply(ALREADY) };
  const channelId = form.get('channel_id');
  return slackChat(c, parsed, { tool: 'slack', userId, ...(channelId ? { channelId } : {}) }, form.get('response_url') ?? undefined);
}

export async function slackInteraction(c: RouteContext, req: HttpRequest): Promise<Handled> {
  if (!c.config.slack) return notFound();
  if (!(await slackVerified(c, req))) return unauthorized();
  let payload: { user?: { id?: unknown }; channel?: { id?: unknown }; actions?: Array<{ value?: unknown }>; response_url?: unknown; trigger_id?: unknown };
  try {
    payload = JSON.parse(new URLSearchParams(req.body).get('payload') ?? '') as typeof payload;
  } catch {
    return { response: slackReply('Malformed interaction.') };
  }
  const userId = typeof payload?.user?.id === 'string' ? payload.user.id : undefined;
  const value = payload?.actions?.[0]?.value;
  const action = typeof value === 'string' ? decodeAction(value) : undefined;
  if (!userId || !action) return { response: slackReply('Unknown action.') };
  const cmd: Command =
    action.a === 'cancel'
      ? { cmd: 'cancel', ref: action.id, reason: 'Cancel now button' }
      : action.a === 'extend'
        ? { cmd: 'extend', ref: action.id, duration: action.d, reason: 'Extend button' }
        : action.a === 'keep'
          ? { cmd: 'keep', ref: action.id, duration: action.d }
          : { cmd: 'snooze', ref: action.id, duration: action.d };
  const responseUrl = typeof payload.response_url === 'string' && allowedResponseUrl(payload.response_url) ? payload.response_url : undefined;
  if (!(await c.firstSeen(slackIdentity(req, typeof payload.trigger_id === 'string' ? payload.trigger_id : undefined)))) return { response: EMPTY_ACK };
  const channelId = typeof payload.channel?.id === 'string' ? payload.channel.id : undefined;
  const who: Who = { tool: 'slack', userId, ...(channelId ? { channelId } : {}) };
  if (c.followUps) {
    await c.followUps.send({
      kind: 'slack-button',
      v: 1,
      who,
      cmd: cmd,
      ...(responseUrl ? { responseUrl } : {}),
    });
    return { response: EMPTY_ACK };
  }
  // Slack shows nothing of an interaction's acknowledgment: acknowledge empty, at once, and
  // answer through response_url — the warning replaced in place (who did what, the new
  // deadline, the buttons that still make sense), or a private note when it was refused.
  return { response: EMPTY_ACK, background: buttonPressed(c, cmd, who, responseUrl) };
}

/** Run a pressed button's command and answer on response_url. Never throws: a failed post is logged. */
export async function buttonPressed(c: RouteContext, cmd: Command, who: Who, responseUrl: string | undefined): Promise<void> {
  return pressButton(c, cmd, who, responseUrl).catch((err: Error) => c.log.warn('response_url post failed', { error: redact(err.message) }));
}

async function pressButton(c: RouteContext, cmd: Command, who: Who, responseUrl: string | undefined): Promise<void> {
  const rt = c.runtime;
  const r = await runCommand(rt, cmd, who, {
    budgetMs: c.config.ackBudgetMs,
    log: c.log,
    markup: SLACK,
    onMessage: true,
    ...(responseUrl ? { replyTo: { to: 'slack' as const, url: responseUrl, until: c.now() + REPLY_VALID_MS.slack } } : {}),
  });
  if (!responseUrl) return;
  // `text` is Slack mrkdwn already (mentions included).
  const answer = async (text: string, ok: boolean) => {
    if (!ok) return c.postResponse(responseUrl, { response_type: 'ephemeral', replace_original: false, text });
    const e = 'ref' in cmd ? await rt.store.get(rt.watchdog.resolveId(cmd.ref)) : undefined;
    if (!e) return c.postResponse(responseUrl, { response_type: 'ephemeral', replace_original: false, text });
    return c.postResponse(responseUrl, { replace_original: true, ...slackActionMessage(e, rt.watchdog.policyOf(e), text, c.now()) });
  };
  await answer(r.text, r.ok);
  if (r.later) await answer(await r.later, true);
}

/** Run a chat command; a later outcome goes to Slack's response_url. */
export async function slackChat(c: RouteContext, cmd: Command, who: Who, responseUrl: string | undefined): Promise<Handled> {
  const url = responseUrl && allowedResponseUrl(responseUrl) ? responseUrl : undefined;
  const r = await runCommand(c.runtime, cmd, who, {
    budgetMs: c.config.ackBudgetMs,
    log: c.log,
    markup: SLACK,
    deferCancel: c.followUps !== undefined && url !== undefined,
    ...(url ? { replyTo: { to: 'slack' as const, url, until: c.now() + REPLY_VALID_MS.slack } } : {}),
  });
  const visible = r.ok && (cmd.cmd === 'cancel' || cmd.cmd === 'extend');
  if (r.deferred && url) await c.followUps?.send({ kind: 'cancel', v: 1, id: r.deferred, reply: { to: 'slack', url } });
  if (!r.later) return { response: slackReply(r.text, visible) };
  const background = r.later
    .then(async (text) => {
      if (url) await c.postResponse(url, { response_type: 'in_channel', replace_original: false, text });
    })
    .catch((err: Error) => c.log.warn('response_url post failed', { error: redact(err.message) }));
  return { response: slackReply(r.text, true), background };
}
