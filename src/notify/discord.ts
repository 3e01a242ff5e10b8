/** Discord messages as its API takes them: within 2,000 characters, pinging nobody, with its User-Agent. */
import { cutAt } from './markup.js';

/** Discord asks bots to say who they are (its API reference, "User Agent"). */
export const DISCORD_USER_AGENT = 'DiscordBot (https://github.com/runaway-watchdog/runaway-watchdog, 0.1.0)';
/** How long after the interaction's answer its follow-up is posted, at the earliest. */
export const DISCORD_FOLLOW_UP_AFTER_MS = 1_000;
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
  if (kept.length === 0) return `${cutAt(text, DISCORD_MAX - 1)}…`;
  return `${kept.join('\n')}\n… and ${lines.length - kept.length} more line(s): narrow it with \`/watchdog list filter:<connection or policy>\``;
}

/** Every Discord message we send: within 2,000 characters, pinging nobody. */
export const discordMessage = (content: string, ephemeral: boolean): { content: string; allowed_mentions: { parse: never[] }; flags?: 64 } => ({
  content: discordContent(content),
  allowed_mentions: { parse: [] },
  ...(ephemeral ? { flags: 64 as const } : {}),
});
