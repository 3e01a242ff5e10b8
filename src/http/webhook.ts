/**
 * The one HTTP handler behind every route. Verifies first, parses second,
 * acts last: a request that fails its signature changes nothing and learns nothing.
 * Served by the Lambda adapter (lambdas/webhook.ts) and the local server (http/server.ts).
 */
import * as z from 'zod';
import { InputError, NotFoundError, WatchdogError } from '../errors.js';
import { type Log, redact, silentLog } from '../log.js';
import { decodeAction } from '../notify/actions.js';
import { HttpClient } from '../providers/http.js';
import { DISCORD, SLACK, TEAMS } from '../notify/markup.js';
import { slackActionMessage } from '../notify/slack.js';
import type { Runtime } from '../runtime.js';
import { FULL_SCOPE, type Scope, formatIssues } from '../config/load.js';
import type { SecretSource } from '../secrets.js';
import { readSecretField } from '../secrets.js';
import { SIGNATURE_HEADER, WINDOW_SECONDS, canonicalTarget, safeEqual, verifyV2 } from '../security/signing.js';
import { publicView } from '../core/model.js';
import { protoKeyPaths } from '../core/own.js';
import { FinishRequest } from '../app/service.js';
import { type Command, type Who, outcomeText, parseCommand, runCommand } from './commands.js';
import type { FollowUp, FollowUpQueue } from './followup.js';
import { type Handled, type HttpRequest, type HttpResponse, json } from './types.js';
import { verifyDiscord, verifySlack, verifyTeams } from './verify.js';

export interface WebhookDeps {
  runtime: Runtime;
  secrets: SecretSource;
  log?: Log;
  now?: () => number;
  /** Lambda: where follow-ups go (they cannot run after the answer); absent, they run in this process. */
  followUps?: FollowUpQueue;
  /** Post to a Slack response_url or a Discord interaction webhook (overridable for tests). */
  postResponse?: (url: string, body: unknown, headers?: Record<string, string>) => Promise<void>;
}

const unauthorized = (): Handled => ({ response: json(401, { error: 'invalid signature' }) });
const notFound = (): Handled => ({ response: json(404, { error: 'not found' }) });
const slackReply = (text: string, visible = false): HttpResponse => json(200, { response_type: visible ? 'in_channel' : 'ephemeral', text });
/** An interaction's acknowledgment: 200 and nothing else (Slack displays none of it). */
const EMPTY_ACK: HttpResponse = { status: 200, headers: {}, body: '' };

/** Only https response URLs on Slack's hosts are followed, or local stand-ins. */
export function allowedResponseUrl(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol === 'https:') return u.hostname === 'hooks.slack.com' || u.hostname.endsWith('.slack.com');
    return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost');
  } catch {
    return false;
  }
}

async function defaultPostResponse(url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const u = new URL(url);
  const res = await new HttpClient(u.origin, { attempts: 1, timeoutMs: 5_000 }).request(
    'POST',
    u.pathname + u.search,
    { 'content-type': 'application/json', ...headers },
    JSON.stringify(body),
  );
  if (res.status < 200 || res.status >= 300) throw new Error(`response_url answered HTTP ${res.status}`);
}

const CancelHookBody = z.strictObject({
  id: z.string().min(1).max(1100),
  reason: z.string().max(500).optional(),
  actor: z.string().min(1).max(128).optional(),
});

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

/** A Teams outgoing-webhook activity: the fields we read, the freshness and identity fields required. */
const TeamsActivity = z.object({
  id: z.string().min(1).max(256),
  timestamp: z.iso.datetime({ offset: true }),
  text: z.string().max(2000),
  from: z.object({ id: z.string(), aadObjectId: z.string().optional() }),
  channelData: z.object({ channel: z.object({ id: z.string() }).optional() }).optional(),
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

/** Chat commands that change something: each is recorded against replays. */
const mutating = (c: Command) => c.cmd === 'cancel' || c.cmd === 'extend' || c.cmd === 'snooze';
const REPLAY_WINDOW_MS = WINDOW_SECONDS * 1000;
/** How long a follow-up waits for the provider (its Lambda timeout is longer). */
const FOLLOW_UP_WAIT_MS = 10_000;
const ALREADY = 'This request was already handled; nothing changed.';

export class Webhook {
  private readonly log: Log;
  private readonly now: () => number;
  private readonly postResponse: (url: string, body: unknown, headers?: Record<string, string>) => Promise<void>;

  constructor(private readonly deps: WebhookDeps) {
    this.log = deps.log ?? silentLog;
    this.now = deps.now ?? Date.now;
    this.postResponse = deps.postResponse ?? defaultPostResponse;
  }

  private get config() {
    return this.deps.runtime.config.webhook;
  }

  /** How long a chat action may take before its answer (webhook.ackBudget). */
  get ackBudgetMs(): number {
    return this.config.ackBudgetMs;
  }

  private async secret(name: string, field: string): Promise<string | undefined> {
    try {
      return await readSecretField(this.deps.secrets, name, field);
    } catch (err) {
      this.log.error('webhook secret unavailable', { secret: name, error: redact((err as Error).message) });
      return undefined;
    }
  }

  /** True the first time this request identity is seen in the signature window. */
  private firstSeen(identity: string): Promise<boolean> {
    return this.deps.runtime.replay.firstSeen(identity, REPLAY_WINDOW_MS, this.now());
  }

  /** Never throws: every failure is a response. */
  async handle(req: HttpRequest): Promise<Handled> {
    const started = this.now();
    try {
      if (Buffer.byteLength(req.body, 'utf8') > this.config.maxBodyBytes) return { response: json(413, { error: 'body too large' }) };
      const route = `${req.method.toUpperCase()} ${req.path.replace(/\/+$/, '') || '/'}`;
      let out: Handled;
      if (route === 'GET /healthz') out = { response: json(200, { ok: true }) };
      else if (route === 'POST /slack/commands') out = await this.slackCommand(req);
      else if (route === 'POST /slack/interactions') out = await this.slackInteraction(req);
      else if (route === 'POST /discord/interactions') out = await this.discord(req);
      else if (route === 'POST /teams/messages') out = await this.teams(req);
      else if (route === 'POST /hooks/cancel') out = await this.hookCancel(req);
      // Loaded on first request: the description costs the cold start nothing.
      else if (route === 'GET /v1/openapi.json') out = { response: json(200, (await import('./openapi.js')).openApiDocument()) };
      else if (req.path.startsWith('/v1/executions')) out = await this.tracking(req);
      else out = notFound();
      this.log.info('webhook request', {
        route: req.path.slice(0, 80),
        method: req.method.slice(0, 10),
        status: out.response.status,
        ms: this.now() - started,
      });
      return out;
    } catch (err) {
      this.log.error('webhook failed', { path: req.path.slice(0, 80), error: redact((err as Error).message) });
      return { response: json(500, { error: 'internal error' }) };
    }
  }

  // ---- Slack -------------------------------------------------------------------------

  private async slackVerified(req: HttpRequest): Promise<boolean> {
    if (!this.config.slack) return false;
    const secret = await this.secret(this.config.slack.secret, 'signingSecret');
    return secret !== undefined && verifySlack(secret, req.headers, req.body, this.now());
  }

  /**
   * Slack's identity of one user action: the trigger id (the same on Slack's own retries,
   * which carry a new signature), else the signature itself.
   */
  private slackIdentity(req: HttpRequest, triggerId: string | undefined): string {
    return triggerId ? `slack:trigger:${triggerId}` : `slack:sig:${req.headers['x-slack-signature'] ?? ''}`;
  }

  private async slackCommand(req: HttpRequest): Promise<Handled> {
    if (!this.config.slack) return notFound();
    if (!(await this.slackVerified(req))) return unauthorized();
    const form = new URLSearchParams(req.body);
    const userId = form.get('user_id');
    if (!userId) return { response: slackReply('Malformed command: no user.') };
    const parsed = parseCommand(form.get('text') ?? '');
    if ('error' in parsed) return { response: slackReply(SLACK.esc(parsed.error)) };
    if (mutating(parsed) && !(await this.firstSeen(this.slackIdentity(req, form.get('trigger_id') ?? undefined)))) return { response: slackReply(ALREADY) };
    const channelId = form.get('channel_id');
    return this.chat(parsed, { tool: 'slack', userId, ...(channelId ? { channelId } : {}) }, form.get('response_url') ?? undefined);
  }

  private async slackInteraction(req: HttpRequest): Promise<Handled> {
    if (!this.config.slack) return notFound();
    if (!(await this.slackVerified(req))) return unauthorized();
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
          : { cmd: 'snooze', ref: action.id, duration: action.d };
    const responseUrl = typeof payload.response_url === 'string' && allowedResponseUrl(payload.response_url) ? payload.response_url : undefined;
    if (!(await this.firstSeen(this.slackIdentity(req, typeof payload.trigger_id === 'string' ? payload.trigger_id : undefined))))
      return { response: EMPTY_ACK };
    const channelId = typeof payload.channel?.id === 'string' ? payload.channel.id : undefined;
    const who: Who = { tool: 'slack', userId, ...(channelId ? { channelId } : {}) };
    if (this.deps.followUps) {
      await this.deps.followUps.send({
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
    return { response: EMPTY_ACK, background: this.buttonPressed(cmd, who, responseUrl) };
  }

  /**
   * A follow-up's second half (the queue's consumer in Lambda): carry out the cancel, then
   * post where it stands. Throws when the post fails, so the queue retries it (carrying out
   * a cancel again is safe: a settled one is only reported) — Discord answers 404 to a
   * follow-up that arrives before the interaction's first answer.
   */
  async followUp(job: FollowUp): Promise<void> {
    // A press is not retried (a second run would extend or snooze twice): buttonPressed never throws.
    if (job.kind === 'slack-button') return this.buttonPressed(job.cmd, job.who, job.responseUrl);
    const e = await this.deps.runtime.watchdog.carryOutCancel(job.id, FOLLOW_UP_WAIT_MS);
    if (!e) return;
    if (job.reply.to === 'slack') {
      await this.postResponse(job.reply.url, { response_type: 'in_channel', replace_original: false, text: outcomeText(e, SLACK) });
    } else {
      await this.postResponse(job.reply.url, discordMessage(outcomeText(e, DISCORD), false), { 'user-agent': DISCORD_USER_AGENT });
    }
  }

  /** Run a pressed button's command and answer on response_url. Never throws: a failed post is logged. */
  private async buttonPressed(cmd: Command, who: Who, responseUrl: string | undefined): Promise<void> {
    return this.pressButton(cmd, who, responseUrl).catch((err: Error) => this.log.warn('response_url post failed', { error: redact(err.message) }));
  }

  private async pressButton(cmd: Command, who: Who, responseUrl: string | undefined): Promise<void> {
    const rt = this.deps.runtime;
    const r = await runCommand(rt, cmd, who, { budgetMs: this.config.ackBudgetMs, log: this.log });
    if (!responseUrl) return;
    const answer = async (text: string, ok: boolean) => {
      if (!ok) return this.postResponse(responseUrl, { response_type: 'ephemeral', replace_original: false, text: SLACK.esc(text) });
      const e = 'ref' in cmd ? await rt.store.get(rt.watchdog.resolveId(cmd.ref)) : undefined;
      if (!e) return this.postResponse(responseUrl, { response_type: 'ephemeral', replace_original: false, text: SLACK.esc(text) });
      return this.postResponse(responseUrl, { replace_original: true, ...slackActionMessage(e, rt.watchdog.policyOf(e), text, this.now()) });
    };
    await answer(r.text, r.ok);
    if (r.later) await answer(await r.later, true);
  }

  /** Run a chat command; a later outcome goes to Slack's response_url. */
  private async chat(cmd: Command, who: Who, responseUrl: string | undefined): Promise<Handled> {
    const url = responseUrl && allowedResponseUrl(responseUrl) ? responseUrl : undefined;
    const r = await runCommand(this.deps.runtime, cmd, who, {
      budgetMs: this.config.ackBudgetMs,
      log: this.log,
      markup: SLACK,
      deferCancel: this.deps.followUps !== undefined && url !== undefined,
    });
    const visible = r.ok && (cmd.cmd === 'cancel' || cmd.cmd === 'extend');
    if (r.deferred && url) await this.deps.followUps?.send({ kind: 'cancel', v: 1, id: r.deferred, reply: { to: 'slack', url } });
    if (!r.later) return { response: slackReply(r.text, visible) };
    const background = r.later
      .then(async (text) => {
        if (url) await this.postResponse(url, { response_type: 'in_channel', replace_original: false, text });
      })
      .catch((err: Error) => this.log.warn('response_url post failed', { error: redact(err.message) }));
    return { response: slackReply(r.text, true), background };
  }

  // ---- Discord -----------------------------------------------------------------------

  private async discord(req: HttpRequest): Promise<Handled> {
    if (!this.config.discord) return notFound();
    const key = await this.secret(this.config.discord.secret, 'publicKey');
    if (!key || !verifyDiscord(key, req.headers, req.body, this.now())) return unauthorized();
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
    if (mutating(parsed) && !(await this.firstSeen(`discord:${body.id ?? req.headers['x-signature-ed25519'] ?? ''}`))) return reply(ALREADY);
    const followUrl =
      body.application_id && body.token ? `${this.config.discord.apiUrl.replace(/\/$/, '')}/webhooks/${body.application_id}/${body.token}` : undefined;
    const r = await runCommand(
      this.deps.runtime,
      parsed,
      { tool: 'discord', userId, ...(body.channel_id ? { channelId: body.channel_id } : {}) },
      { budgetMs: this.config.ackBudgetMs, log: this.log, markup: DISCORD, deferCancel: this.deps.followUps !== undefined && followUrl !== undefined },
    );
    if (r.deferred && followUrl) await this.deps.followUps?.send({ kind: 'cancel', v: 1, id: r.deferred, reply: { to: 'discord', url: followUrl } });
    // What reveals execution details (status, list) or a refusal goes only to the person asking.
    const response = json(200, { type: 4, data: discordMessage(r.text, !r.ok || r.readOnly === true) });
    if (!r.later || !followUrl) return { response };
    // The outcome arrives after the answer: a follow-up message on the interaction's webhook.
    const background = r.later
      .then((later) => this.postResponse(followUrl, discordMessage(later, false), { 'user-agent': DISCORD_USER_AGENT }))
      .catch((err: Error) => this.log.warn('discord follow-up failed', { error: redact(err.message) }));
    return { response, background };
  }

  // ---- Teams -------------------------------------------------------------------------

  private async teams(req: HttpRequest): Promise<Handled> {
    if (!this.config.teams) return notFound();
    const token = await this.secret(this.config.teams.secret, 'securityToken');
    if (!token || !verifyTeams(token, req.headers, req.body)) return unauthorized();
    const say = (status: number, text: string): Handled => ({ response: json(status, { type: 'message', text }) });
    const parsedBody = parseJson(req.body, TeamsActivity);
    if ('error' in parsedBody) return say(400, 'Malformed message.');
    const a = parsedBody.value;
    // Teams signs the body only; the activity's own timestamp and id bound it in time and number.
    if (Math.abs(this.now() - Date.parse(a.timestamp)) > REPLAY_WINDOW_MS) return say(401, 'Message too old.');
    const text = a.text
      .replace(/<at>[^<]*<\/at>/g, '')
      .replace(/&nbsp;/g, ' ')
      .trim();
    const parsed = parseCommand(text);
    if ('error' in parsed) return say(200, TEAMS.esc(parsed.error));
    if (!(await this.firstSeen(`teams:${a.id}`))) return say(200, ALREADY);
    const channelId = a.channelData?.channel?.id;
    // An outgoing webhook cannot post later: the answer must carry the outcome, within Teams' 5 s.
    const out = await runCommand(
      this.deps.runtime,
      parsed,
      { tool: 'teams', userId: a.from.aadObjectId ?? a.from.id, ...(channelId ? { channelId } : {}) },
      { budgetMs: Math.min(Math.max(this.config.ackBudgetMs, 2_000), 4_000), log: this.log, markup: TEAMS },
    );
    if (out.later && 'ref' in parsed) {
      return say(
        200,
        `Cancel of ${TEAMS.esc(parsed.ref)} is requested and under way; the provider has not confirmed it yet. The watchdog keeps at it: ${TEAMS.code('status')} shows the outcome.`,
      );
    }
    return say(200, out.text);
  }

  // ---- Watchdog-signed routes --------------------------------------------------------

  private async v2Verified(req: HttpRequest): Promise<boolean> {
    if (!this.config.hooks) return false;
    const secret = await this.secret(this.config.hooks.secret, 'signingSecret');
    if (secret === undefined) return false;
    if (req.headers[SIGNATURE_HEADER]?.startsWith('v1='))
      this.log.warn('v1 signature refused: sign method, path and body (v2)', { route: req.path.slice(0, 80) });
    return verifyV2(secret, req.headers, { method: req.method, target: canonicalTarget(req.path, req.query), body: req.body }, this.now());
  }

  /** The scope of the bearer key presented, if it is one of ours. Every key is compared, in constant time. */
  private async bearerScope(req: HttpRequest): Promise<Scope | undefined> {
    const auth = req.headers.authorization;
    if (this.config.apiKeys.length === 0 || !auth?.startsWith('Bearer ')) return undefined;
    let match: Scope | undefined;
    for (const k of this.config.apiKeys) {
      const key = await this.secret(k.secret, 'apiKey');
      if (key !== undefined && safeEqual(`Bearer ${key}`, auth) && match === undefined) match = k.scope;
    }
    return match;
  }

  private async hookCancel(req: HttpRequest): Promise<Handled> {
    if (!this.config.hooks) return notFound();
    if (!(await this.v2Verified(req))) return unauthorized();
    const body = parseJson(req.body, CancelHookBody);
    if ('error' in body) return { response: json(400, { error: body.error }) };
    let id: string;
    try {
      id = this.deps.runtime.watchdog.resolveId(body.value.id);
    } catch (err) {
      if (err instanceof InputError) return { response: json(400, { error: err.message }) };
      throw err;
    }
    if (!(await this.firstSeen(`v2:${req.headers[SIGNATURE_HEADER] ?? ''}`))) return { response: json(409, { ok: false, message: ALREADY }) };
    const r = await runCommand(
      this.deps.runtime,
      { cmd: 'cancel', ref: id, ...(body.value.reason ? { reason: body.value.reason } : {}) },
      { tool: 'hook', userId: body.value.actor ?? 'hook' },
      { budgetMs: this.config.ackBudgetMs, log: this.log },
    );
    const e = await this.deps.runtime.store.get(id).catch(() => undefined);
    return { response: json(r.ok ? 202 : 409, { ok: r.ok, message: r.text, ...(e ? { id: e.id, state: e.state } : {}) }) };
  }

  private async tracking(req: HttpRequest): Promise<Handled> {
    if (!this.config.hooks && this.config.apiKeys.length === 0) return notFound();
    const signed = await this.v2Verified(req);
    const scope = signed ? FULL_SCOPE : await this.bearerScope(req);
    if (!scope) return unauthorized();
    const wd = this.deps.runtime.watchdog;
    const actor = { id: 'api', via: 'api' };
    const m = /^\/v1\/executions(?:\/([^/]+)(?:\/(heartbeat|finish))?)?\/?$/.exec(req.path);
    if (!m) return notFound();
    const [, rawId, verb] = m;
    let id: string | undefined;
    try {
      id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    } catch {
      return { response: json(400, { error: 'invalid execution id encoding' }) };
    }
    // A signed write is accepted once. Heartbeats are not recorded: they are liveness, a copy
    // changes no state and cannot move progress back, and a nonce write would double their cost.
    const replayed = async () =>
      signed && req.method === 'POST' && verb !== 'heartbeat' && !(await this.firstSeen(`v2:${req.headers[SIGNATURE_HEADER] ?? ''}`));
    try {
      if (id === undefined) {
        if (req.method !== 'POST') return { response: json(405, { error: 'method not allowed' }) };
        const body = parseJson(req.body, z.unknown());
        if ('error' in body) return { response: json(400, { error: body.error }) };
        if (await replayed()) return { response: json(409, { error: ALREADY }) };
        const { created, execution } = await wd.track(body.value, actor, scope);
        return { response: json(created ? 201 : 200, { created, execution: publicView(execution) }) };
      }
      if (verb === undefined) {
        if (req.method !== 'GET') return { response: json(405, { error: 'method not allowed' }) };
        const { execution, events } = await wd.show(id, scope);
        return { response: json(200, { execution: publicView(execution), events }) };
      }
      if (req.method !== 'POST') return { response: json(405, { error: 'method not allowed' }) };
      if (verb === 'heartbeat') {
        const body = parseJson(req.body || '{}', z.unknown());
        if ('error' in body) return { response: json(400, { error: body.error }) };
        return { response: json(200, { execution: publicView(await wd.heartbeat(id, body.value, scope)) }) };
      }
      const body = parseJson(req.body || '{}', FinishRequest);
      if ('error' in body) return { response: json(400, { error: body.error }) };
      if (await replayed()) return { response: json(409, { error: ALREADY }) };
      return { response: json(200, { execution: publicView(await wd.finish(id, actor, body.value.status, scope)) }) };
    } catch (err) {
      if (err instanceof NotFoundError) return { response: json(404, { error: err.message }) };
      if (err instanceof InputError) return { response: json(400, { error: err.message }) };
      if (err instanceof WatchdogError && err.name === 'ConfigError') return { response: json(400, { error: err.message }) };
      throw err;
    }
  }
}

function parseJson<T>(text: string, schema: z.ZodType<T>): { value: T } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: 'body is not valid JSON' };
  }
  const reserved = protoKeyPaths(raw);
  if (reserved.length > 0) return { error: `invalid body: ${reserved[0]}: "__proto__" is not allowed` };
  const r = schema.safeParse(raw);
  if (!r.success) return { error: `invalid body: ${formatIssues(r.error.issues, '(body)').join('; ')}` };
  return { value: r.data };
}
