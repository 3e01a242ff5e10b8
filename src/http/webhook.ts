/**
 * The one HTTP handler behind every route. Verifies first, parses second,
 * acts last: a request that fails its signature changes nothing and learns nothing.
 * Each tool's routes live in routes/ (Slack, Discord, Teams, signed hooks, the tracking
 * API); this file routes and holds what they share. Served by the Lambda adapter
 * (lambdas/webhook.ts) and the local server (http/server.ts).
 */
import { DependencyError, isDependencyFault } from '../errors.js';
import { type Log, redact, silentLog } from '../log.js';
import { DISCORD, SLACK } from '../notify/markup.js';
import { REPLY_VALID_MS, postJson } from '../notify/reply.js';
import type { Runtime } from '../runtime.js';
import type { SecretSource } from '../secrets.js';
import { readSecretField } from '../secrets.js';
import { reportOrAwait } from './commands.js';
import type { FollowUp, FollowUpQueue } from './followup.js';
import { DISCORD_USER_AGENT, discordInteraction, discordMessage } from './routes/discord.js';
import { hookCancel } from './routes/hooks.js';
import { REPLAY_WINDOW_MS, type RouteContext, notFound, unavailable } from './routes/shared.js';
import { buttonPressed, slackCommand, slackInteraction } from './routes/slack.js';
import { teamsMessage } from './routes/teams.js';
import { tracking } from './routes/tracking.js';
import { type Handled, type HttpRequest, json, refusal } from './types.js';

export { allowedResponseUrl } from './routes/shared.js';
export { DISCORD_MAX, DISCORD_USER_AGENT, discordContent, discordMessage } from './routes/discord.js';

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

/** How long a follow-up waits for the provider (its Lambda timeout is longer). */
const FOLLOW_UP_WAIT_MS = 10_000;

export class Webhook {
  private readonly log: Log;
  private readonly now: () => number;
  private readonly ctx: RouteContext;

  constructor(private readonly deps: WebhookDeps) {
    this.log = deps.log ?? silentLog;
    this.now = deps.now ?? Date.now;
    const log = this.log;
    this.ctx = {
      runtime: deps.runtime,
      get config() {
        return deps.runtime.config.webhook;
      },
      log,
      now: this.now,
      secret: async (name, field) => {
        try {
          return await readSecretField(deps.secrets, name, field);
        } catch (err) {
          log.error('webhook secret unavailable', { secret: name, error: redact((err as Error).message) });
          throw new DependencyError(`secret ${name} unavailable`, { cause: err });
        }
      },
      firstSeen: (identity) => deps.runtime.replay.firstSeen(identity, REPLAY_WINDOW_MS, this.now()),
      postResponse: deps.postResponse ?? postJson,
      followUps: deps.followUps,
    };
  }

  private get config() {
    return this.deps.runtime.config.webhook;
  }

  /** How long a chat action may take before its answer (webhook.ackBudget). */
  get ackBudgetMs(): number {
    return this.config.ackBudgetMs;
  }

  /** Never throws: every failure is a response. */
  async handle(req: HttpRequest): Promise<Handled> {
    const started = this.now();
    try {
      if (Buffer.byteLength(req.body, 'utf8') > this.config.maxBodyBytes) return { response: refusal(413, 'body_too_large', 'body too large') };
      const route = `${req.method.toUpperCase()} ${req.path.replace(/\/+$/, '') || '/'}`;
      let out: Handled;
      if (route === 'GET /healthz') out = { response: json(200, { ok: true }) };
      else if (route === 'POST /slack/commands') out = await slackCommand(this.ctx, req);
      else if (route === 'POST /slack/interactions') out = await slackInteraction(this.ctx, req);
      else if (route === 'POST /discord/interactions') out = await discordInteraction(this.ctx, req);
      else if (route === 'POST /teams/messages') out = await teamsMessage(this.ctx, req);
      else if (route === 'POST /hooks/cancel') out = await hookCancel(this.ctx, req);
      // Loaded on first request: the description costs the cold start nothing.
      else if (route === 'GET /v1/openapi.json') out = { response: json(200, (await import('./openapi.js')).openApiDocument()) };
      else if (req.path.startsWith('/v1/executions')) out = await tracking(this.ctx, req);
      else out = notFound();
      this.log.info('webhook request', {
        route: req.path.slice(0, 80),
        method: req.method.slice(0, 10),
        status: out.response.status,
        ms: this.now() - started,
      });
      return out;
    } catch (err) {
      const dependency = isDependencyFault(err);
      this.log.error(dependency ? 'webhook dependency unavailable' : 'webhook failed', {
        route: req.path.slice(0, 80),
        method: req.method.slice(0, 10),
        status: dependency ? 503 : 500,
        error: redact((err as Error)?.message ?? String(err)),
      });
      // A tracker's heartbeat the watchdog could not take: remembered, so the sweep does not
      // read its own outage as the run's death (docs/sweep.md "Heartbeats the watchdog could not take").
      if (req.path.startsWith('/v1/')) await this.recordIngestFault();
      return dependency ? unavailable() : { response: refusal(500, 'internal', 'internal error') };
    }
  }
  /**
   * Remember that tracking requests failed on the watchdog's side (`#ingest` in the ledger),
   * within a second: the store may be what failed, and the answer must not wait on it.
   */
  private async recordIngestFault(): Promise<void> {
    const write = this.deps.runtime.ledger.recordIngestFault(this.now()).catch((err: unknown) => {
      this.log.warn('could not record the ingest fault', { error: redact((err as Error)?.message ?? String(err)) });
    });
    await Promise.race([write, new Promise((r) => setTimeout(r, 1_000).unref())]);
  }

  /**
   * A follow-up's second half (the queue's consumer in Lambda): carry out the cancel, then
   * post where it stands. Throws when the post fails, so the queue retries it (carrying out
   * a cancel again is safe: a settled one is only reported) — Discord answers 404 to a
   * follow-up that arrives before the interaction's first answer.
   */
  async followUp(job: FollowUp): Promise<void> {
    // A press is not retried (a second run would extend or snooze twice): buttonPressed never throws.
    if (job.kind === 'slack-button') return buttonPressed(this.ctx, job.cmd, job.who, job.responseUrl);
    if (job.kind === 'enforce') {
      await this.deps.runtime.watchdog.enforceNow(job.id);
      return;
    }
    const rt = this.deps.runtime;
    const e = await rt.watchdog.carryOutCancel(job.id, FOLLOW_UP_WAIT_MS);
    if (!e) return;
    const reply = { ...job.reply, until: this.now() + REPLY_VALID_MS[job.reply.to] };
    if (job.reply.to === 'slack') {
      const text = await reportOrAwait(rt, e, reply, SLACK);
      await this.ctx.postResponse(job.reply.url, { response_type: 'in_channel', replace_original: false, text });
    } else {
      const text = await reportOrAwait(rt, e, reply, DISCORD);
      await this.ctx.postResponse(job.reply.url, discordMessage(text, false), { 'user-agent': DISCORD_USER_AGENT });
    }
  }
}
