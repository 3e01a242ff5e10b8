/**
 * The asker's own channel: a person who cancelled from chat hears the outcome where they
 * asked (Slack's response_url, a Discord interaction's webhook) while it is still valid,
 * as one more notice of the outcome (the policy's targets get theirs as always).
 */
import type { ReplyTo } from '../core/model.js';
import { HttpClient } from '../providers/http.js';
import { DISCORD_USER_AGENT, discordMessage } from './discord.js';
import { discordEscape, slackEscape } from './markup.js';
import type { Message, Notifier } from './types.js';

/** The outbox's name for the asker's channel (not a notify target of the config). */
export const REPLY_TARGET = '@asker';
/** How long each tool lets us post to the asker's channel (less a minute for the way). */
export const REPLY_VALID_MS: Record<ReplyTo['to'], number> = { slack: 29 * 60_000, discord: 14 * 60_000 };

export type PostJson = (url: string, body: unknown, headers?: Record<string, string>) => Promise<void>;

/** POST JSON once, 5 s at most; a non-2xx answer throws. */
export const postJson: PostJson = async (url, body, headers = {}) => {
  const u = new URL(url);
  const res = await new HttpClient(u.origin, { attempts: 1, timeoutMs: 5_000 }).request(
    'POST',
    u.pathname + u.search,
    { 'content-type': 'application/json', ...headers },
    JSON.stringify(body),
  );
  if (res.status < 200 || res.status >= 300) throw new Error(`response_url answered HTTP ${res.status}`);
};

export function replyNotifier(reply: ReplyTo, post: PostJson = postJson): Notifier {
  return {
    target: REPLY_TARGET,
    async send(m: Message) {
      if (reply.to === 'slack') {
        const text = `${slackEscape(m.title)}. ${m.slackText ?? slackEscape(m.text)}`;
        await post(reply.url, { response_type: 'in_channel', replace_original: false, text });
      } else await post(reply.url, discordMessage(discordEscape(`${m.title}. ${m.text}`), false), { 'user-agent': DISCORD_USER_AGENT });
      return {};
    },
  };
}
