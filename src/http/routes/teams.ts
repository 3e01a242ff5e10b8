/** Teams: an outgoing webhook's messages, signed with its security token (HMAC over the body). */
import * as z from 'zod';
import { TEAMS } from '../../notify/markup.js';
import { parseCommand, runCommand } from '../commands.js';
import { type Handled, type HttpRequest, json } from '../types.js';
import { verifyTeams } from '../verify.js';
import { ALREADY, FRESH_WINDOW_MS, FUTURE_SKEW_SECONDS, type RouteContext, notFound, parseJson, unauthorized } from './shared.js';

/** A Teams outgoing-webhook activity: the fields we read, the freshness and identity fields required. */
const TeamsActivity = z.object({
  id: z.string().min(1).max(256),
  timestamp: z.iso.datetime({ offset: true }),
  text: z.string().max(2000),
  from: z.object({ id: z.string(), aadObjectId: z.string().optional(), name: z.string().max(256).optional() }),
  channelData: z.object({ channel: z.object({ id: z.string() }).optional() }).optional(),
});

export async function teamsMessage(c: RouteContext, req: HttpRequest): Promise<Handled> {
  if (!c.config.teams) return notFound();
  const token = await c.secret(c.config.teams.secret, 'securityToken');
  if (!verifyTeams(token, req.headers, req.body)) return unauthorized();
  const say = (status: number, text: string): Handled => ({ response: json(status, { type: 'message', text }) });
  const parsedBody = parseJson(req.body, TeamsActivity);
  if ('error' in parsedBody) return say(400, 'Malformed message.');
  const a = parsedBody.value;
  // Teams signs the body only; the activity's own timestamp and id bound it in time and number.
  const age = c.now() - Date.parse(a.timestamp);
  if (age > FRESH_WINDOW_MS || age < -FUTURE_SKEW_SECONDS * 1000) return say(401, 'Message too old.');
  const text = a.text
    .replace(/<at>[^<]*<\/at>/g, '')
    .replace(/&nbsp;/g, ' ')
    .trim();
  const parsed = parseCommand(text);
  if ('error' in parsed) return say(200, TEAMS.esc(parsed.error));
  if (!(await c.firstSeen(`teams:${a.id}`))) return say(200, ALREADY);
  const channelId = a.channelData?.channel?.id;
  // An outgoing webhook cannot post later: the answer must carry the outcome, within Teams' 5 s.
  const out = await runCommand(
    c.runtime,
    parsed,
    { tool: 'teams', userId: a.from.aadObjectId ?? a.from.id, ...(channelId ? { channelId } : {}), ...(a.from.name ? { name: a.from.name } : {}) },
    { budgetMs: Math.min(Math.max(c.config.ackBudgetMs, 2_000), 4_000), log: c.log, markup: TEAMS },
  );
  if (out.later && 'ref' in parsed) {
    return say(
      200,
      `Cancel of ${TEAMS.esc(parsed.ref)} is requested and under way; the provider has not confirmed it yet. The watchdog keeps at it: ${TEAMS.code('status')} shows the outcome.`,
    );
  }
  return say(200, out.text);
}
