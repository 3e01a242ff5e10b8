/** Discord: the /watchdog application command (interactions), signed with the application's public key (Ed25519). */
import * as z from 'zod';
import { redact } from '../../log.js';
import { DISCORD } from '../../notify/markup.js';
import { parseCommand, runCommand } from '../commands.js';
import { type Handled, type HttpRequest, json } from '../types.js';
import { verifyDiscord } from '../verify.js';
import { ALREADY, type RouteContext, mutating, notFound, parseJson, unauthorized } from './shared.js';

const DiscordInteraction = z.object({
  id: z
    .string()
    .regex(/^\d{1,25}$/)
    .optional(),
  type: z.number().int(),
  application_id: z
    .string()
    .regex(/^\d{1,25}$/)
    .optional(),
  token: z
    .string()
    .regex(/^[\w.-]{1,500}$/)
    .optional(),
  member: z.object({ user: z.object({ id: z.string() }) }).optional(),
  user: z.object({ id: z.string() }).optional(),
  channel_id: z.string().optional(),
  data: z
    .object({
      options: z
        .array(z.object({ name: z.string(), value: z.unknown().optional(), options: z.array(z.object({ name: z.string(), value: z.unknown() })).optional() }))
        .optional(),
    })
    .optional(),
});

/** Discord asks bots to say who they are (its API reference, "User Agent"). */
export const DISCORD_USER_AGENT = 'DiscordBot (https://github.com/runaway-watchdog/runaway-watchdog, 0.1.0)';
/** A Discord message may hold 2,000 characters; a longer answer would fail the whole interaction. */
export const DISCORD_MAX = 2_000;

/** Fit a message into Discord's 2,000 characters: whole lines, and a count of what was left out. */
export function discordContent(text: string): string {
  if (text.length <= DISCORD_MAX) return text;
  const lines = text.split('\n');
  const kept: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (size + line.length + 1 > DISCORD_MAX - 80) break;
    kept.push(line);
    size += line.length + 1;
  }
  if (kept.length === 0) return `${text.slice(0, DISCORD_MAX - 1)}…`;
  return `${kept.join('\n')}\n… and ${lines.length - kept.length} more line(s): narrow it with \`list <connection|policy>\``;
}

/** Every Discord message we send: within 2,000 characters, pinging nobody. */
export const discordMessage = (content: string, ephemeral: boolean): { content: string; allowed_mentions: { parse: never[] }; flags?: 64 } => ({
  content: discordContent(content),
  allowed_mentions: { parse: [] },
  ...(ephemeral ? { flags: 64 as const } : {}),
});

export async function discordInteraction(c: RouteContext, req: HttpRequest): Promise<Handled> {
  if (!c.config.discord) return notFound();
  const key = await c.secret(c.config.discord.secret, 'publicKey');
  if (!verifyDiscord(key, req.headers, req.body, c.now())) return unauthorized();
  const parsedBody = parseJson(req.body, DiscordInteraction);
  if ('error' in parsedBody) return { response: json(400, { error: 'malformed interaction' }) };
  const body = parsedBody.value;
  if (body.type === 1) return { response: json(200, { type: 1 }) }; // PING → PONG
  // Nothing we post may ping anyone, whatever an id or reason contains (discordMessage).
  const reply = (content: string) => ({ response: json(200, { type: 4, data: discordMessage(content, true) }) });
  const userId = body.member?.user.id ?? body.user?.id;
  if (body.type !== 2 || !userId) return reply('Unsupported interaction.');
  // /watchdog <subcommand> id:<id> [duration:<d>] [reason:<text>]
  const sub = body.data?.options?.[0];
  const opt = (n: string) => {
    const v = sub?.options?.find((o) => o.name === n)?.value;
    return typeof v === 'string' ? v : undefined;
  };
  const text = sub ? [sub.name, opt('id'), opt('duration'), opt('reason'), opt('filter')].filter(Boolean).join(' ') : 'help';
  const parsed = parseCommand(text);
  if ('error' in parsed) return reply(DISCORD.esc(parsed.error));
  if (mutating(parsed) && !(await c.firstSeen(`discord:${body.id ?? req.headers['x-signature-ed25519'] ?? ''}`))) return reply(ALREADY);
  const followUrl =
    body.application_id && body.token ? `${c.config.discord.apiUrl.replace(/\/$/, '')}/webhooks/${body.application_id}/${body.token}` : undefined;
  const r = await runCommand(
    c.runtime,
    parsed,
    { tool: 'discord', userId, ...(body.channel_id ? { channelId: body.channel_id } : {}) },
    { budgetMs: c.config.ackBudgetMs, log: c.log, markup: DISCORD, deferCancel: c.followUps !== undefined && followUrl !== undefined },
  );
  if (r.deferred && followUrl) await c.followUps?.send({ kind: 'cancel', v: 1, id: r.deferred, reply: { to: 'discord', url: followUrl } });
  // What reveals execution details (status, list) or a refusal goes only to the person asking.
  const response = json(200, { type: 4, data: discordMessage(r.text, !r.ok || r.readOnly === true) });
  if (!r.later || !followUrl) return { response };
  // The outcome arrives after the answer: a follow-up message on the interaction's webhook.
  const background = r.later
    .then((later) => c.postResponse(followUrl, discordMessage(later, false), { 'user-agent': DISCORD_USER_AGENT }))
    .catch((err: Error) => c.log.warn('discord follow-up failed', { error: redact(err.message) }));
  return { response, background };
}
