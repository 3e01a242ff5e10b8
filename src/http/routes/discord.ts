/** Discord: the /watchdog application command (interactions), signed with the application's public key (Ed25519). */
import * as z from 'zod';
import { redact } from '../../log.js';
import { DISCORD_FOLLOW_UP_AFTER_MS, DISCORD_USER_AGENT, discordMessage } from '../../notify/discord.js';
import { DISCORD } from '../../notify/markup.js';
import { REPLY_VALID_MS } from '../../notify/reply.js';
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

export { DISCORD_FOLLOW_UP_AFTER_MS, DISCORD_MAX, DISCORD_USER_AGENT, discordContent, discordMessage } from '../../notify/discord.js';

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
    {
      budgetMs: c.config.ackBudgetMs,
      log: c.log,
      markup: DISCORD,
      deferCancel: c.followUps !== undefined && followUrl !== undefined,
      ...(followUrl ? { replyTo: { to: 'discord' as const, url: followUrl, until: c.now() + REPLY_VALID_MS.discord } } : {}),
    },
  );
  if (r.deferred && followUrl) await c.followUps?.send({ kind: 'cancel', v: 1, id: r.deferred, reply: { to: 'discord', url: followUrl } });
  // What reveals execution details (status, list) or a refusal goes only to the person asking.
  const response = json(200, { type: 4, data: discordMessage(r.text, !r.ok || r.readOnly === true) });
  if (!r.later || !followUrl) return { response };
  // The outcome arrives after the answer: a follow-up message on the interaction's webhook,
  // not before a second has passed (Discord answers 404 to a follow-up that arrives before it
  // has taken the interaction's first answer; in Lambda the queue's delivery gives the same).
  const answeredAt = c.now();
  const background = r.later
    .then(async (later) => {
      const wait = answeredAt + DISCORD_FOLLOW_UP_AFTER_MS - c.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await c.postResponse(followUrl, discordMessage(later, false), { 'user-agent': DISCORD_USER_AGENT });
    })
    .catch((err: Error) => c.log.warn('discord follow-up failed', { error: redact(err.message) }));
  return { response, background };
}
