/**
 * Chat as the real platforms take it: documented limits on the largest realistic messages
 * (20 executions, 500-character ids and reasons), Discord's User-Agent and mentions rules,
 * the registered command matching what the route reads, Teams never promising a follow-up
 * it cannot send, and Slack's channel rules (the stand-in follows them).
 */
import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISCORD_COMMAND } from '../../src/http/discord-command.js';
import type { HttpRequest } from '../../src/http/types.js';
import { teamsSignature } from '../../src/http/verify.js';
import { DISCORD_MAX, DISCORD_USER_AGENT, Webhook, discordContent } from '../../src/http/webhook.js';
import { compileConfig } from '../../src/config/load.js';
import { DISCORD, SLACK, TEAMS, actorText, clip } from '../../src/notify/markup.js';
import { renderNotice } from '../../src/notify/render.js';
import { SlackNotifier, slackActionMessage, slackBlocks } from '../../src/notify/slack.js';
import { TEAMS_TOKEN, type WebhookWorld, cmd, slackRequest, startWebhookWorld } from '../helpers/webhook-world.js';

const keys = generateKeyPairSync('ed25519');
let w: WebhookWorld;
const sent: Array<{ url: string; body: unknown; headers?: Record<string, string>; at: number }> = [];
let hook: Webhook;
beforeAll(async () => {
  w = await startWebhookWorld({
    extraSecrets: { discord2: JSON.stringify({ publicKey: (keys.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12).toString('hex') }) },
  });
  hook = new Webhook({
    runtime: {
      ...w.rt,
      config: { ...w.rt.config, webhook: { ...w.rt.config.webhook, discord: { secret: 'discord2', apiUrl: 'https://discord.com/api/v10' } } },
    },
    secrets: w.rt.secrets,
    postResponse: async (url, body, headers) => {
      sent.push({ url, body, ...(headers ? { headers } : {}), at: Date.now() });
    },
  });
}, 30_000);
afterAll(async () => {
  await w?.close();
});

const discord = (body: unknown): HttpRequest => {
  const text = JSON.stringify(body);
  const ts = String(Math.floor(Date.now() / 1000));
  return {
    method: 'POST',
    path: '/discord/interactions',
    query: new URLSearchParams(),
    body: text,
    headers: { 'x-signature-ed25519': edSign(null, Buffer.from(ts + text), keys.privateKey).toString('hex'), 'x-signature-timestamp': ts },
  };
};
const slash = (sub: string, options: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  type: 2,
  id: String(Date.now()) + Math.floor(Math.random() * 1e6),
  member: { user: { id: 'UALLOWED' } },
  data: { name: 'watchdog', options: [{ name: sub, options: Object.entries(options).map(([name, value]) => ({ name, value })) }] },
  ...extra,
});

/** A signed Teams outgoing-webhook message from `from` (default: the allowed user, no name). */
const teams = (text: string, from: Record<string, string> = { id: 'x', aadObjectId: 'UALLOWED' }) => {
  const body = JSON.stringify({ type: 'message', id: `t-${Math.random()}`, timestamp: new Date().toISOString(), text, from });
  return w.webhook.handle({
    method: 'POST',
    path: '/teams/messages',
    query: new URLSearchParams(),
    body,
    headers: { authorization: teamsSignature(TEAMS_TOKEN, body) },
  });
};
const teamsText = async (text: string, from?: Record<string, string>) => JSON.parse((await teams(text, from)).response.body).text as string;

describe('the largest realistic messages stay inside the documented limits', () => {
  it('Discord: a list of 20 executions with 500-character ids fits 2,000 characters, says what it left out, and pings nobody', async () => {
    for (let i = 0; i < 20; i++) await w.tracked(`${'x'.repeat(480)}-@everyone-${i}`);
    const res = await hook.handle(discord(slash('list', {})));
    const data = JSON.parse(res.response.body).data as { content: string; allowed_mentions: unknown; flags?: number };
    expect(data.content.length).toBeLessThanOrEqual(DISCORD_MAX);
    expect(data.content).toMatch(/… and \d+ more: narrow it with `\/watchdog list filter:<filter>`$/);
    expect(data.allowed_mentions).toEqual({ parse: [] });
    expect(data.flags).toBe(64); // a listing reveals details: only the asker sees it
    expect(data.content).not.toMatch(/(^|[^\\])@everyone/);
  });

  it('Slack: a warning and an action reply with 500-character ids and reasons keep each section ≤ 3,000 and each field ≤ 2,000 characters', async () => {
    const id = await w.tracked(`<${'y'.repeat(498)}>`);
    const e = (await w.rt.store.get(id))!;
    const policy = w.rt.watchdog.policyOf(e);
    const long = `${'&<>'.repeat(700)} reason`;
    const warning = renderNotice(
      { ...e, lastError: long },
      { key: 'k', target: 't', kind: 'outcome', state: 'cancel_failed', attempts: 0, nextAt: 0 },
      policy,
      Date.now(),
    );
    for (const blocks of [slackBlocks({ ...warning, text: long }), slackActionMessage(e, policy, SLACK.esc(long), Date.now()).blocks]) {
      for (const b of blocks as Array<{ text?: { text: string }; fields?: Array<{ text: string }> }>) {
        if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3_000);
        for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2_000);
      }
      expect(JSON.stringify(blocks)).not.toMatch(/&(?!amp;|lt;|gt;)/); // escaped, never cut inside an entity
    }
  });
});

describe('/watchdog coverage', () => {
  const text = async (user: string) => JSON.parse((await w.webhook.handle(slackRequest(cmd('coverage', user)))).response.body).text as string;

  it('answers from the last discovery: running vs tracked, how long ago; only to people who may view', async () => {
    expect(await text('UALLOWED')).toMatch(/sg.*discovery is off/);
    await w.tracked('cov-tracked');
    w.sim.add({ id: 'cov-by-hand' });
    const before = w.sim.listCalls.count;
    const record = await w.rt.sweeper.discoverNow('sg');
    expect(record.discovered).toBeGreaterThanOrEqual(1);
    const answer = await text('UALLOWED');
    expect(answer).toMatch(
      new RegExp(`\\*sg\\*: ${record.running} running — ${record.tracked} tracked, ${record.byDiscovery} found by discovery, 0 untracked \\(\\d+ms ago\\)`),
    );
    // Chat reads the record: no listing of the platform inside a chat answer.
    expect(w.sim.listCalls.count).toBe(before + 1);
    expect(await text('USTRANGER')).toBe('No connections whose coverage you may see.');
  });
});

describe('Discord specifics', () => {
  it('the registered command declares exactly the options the route reads; the list filter is reachable', async () => {
    const subs = new Map(DISCORD_COMMAND.options.map((o) => [o.name, (o.options ?? []).map((x) => x.name)]));
    expect([...subs.keys()].sort()).toEqual(['cancel', 'coverage', 'extend', 'help', 'keep', 'list', 'snooze', 'status']);
    expect(subs.get('extend')).toEqual(['id', 'duration', 'reason']);
    expect(subs.get('keep')).toEqual(['id', 'duration']);
    const kept = await w.tracked('keep-me');
    const answer = await hook.handle(discord(slash('keep', { id: kept })));
    expect(JSON.parse(answer.response.body).data.content).toBe(`Kept ${kept.replace('_', '\\_')} running for 1h (by discord:UALLOWED).`);
    expect((await w.rt.store.get(kept))?.extensions).toMatchObject([{ ms: 3_600_000, by: 'discord:UALLOWED' }]);
    expect(subs.get('list')).toEqual(['filter']);
    const id = await w.tracked('filter-me');
    const res = await hook.handle(discord(slash('list', { filter: 'nope' })));
    expect(JSON.parse(res.response.body).data.content).not.toContain(id);
  });

  it("a follow-up goes with Discord's User-Agent and no mentions, a second or more after the answer (Discord refuses an earlier one)", async () => {
    const id = await w.tracked('slow-discord');
    w.sim.faults = { latencyMs: 600 };
    let answeredAt: number;
    try {
      const res = await hook.handle(discord(slash('cancel', { id }, { application_id: '123456', token: 'tok-1' })));
      answeredAt = Date.now();
      await res.background;
    } finally {
      w.sim.faults = {};
    }
    const follow = sent.find((s) => s.url.endsWith('/webhooks/123456/tok-1'))!;
    expect(follow.at - answeredAt).toBeGreaterThanOrEqual(950);
    expect(follow.headers).toEqual({ 'user-agent': DISCORD_USER_AGENT });
    expect(follow.body).toMatchObject({ allowed_mentions: { parse: [] }, content: expect.stringContaining('Cancelled') });
  });
});

describe('Teams', () => {
  it('a slow provider: the answer never promises a follow-up an outgoing webhook cannot send', async () => {
    const id = await w.tracked('slow-teams');
    w.sim.faults = { latencyMs: 4_500 };
    try {
      const text = await teamsText(`cancel ${id}`);
      expect(text).not.toMatch(/will follow/);
      expect(text).toMatch(/requested and under way/);
    } finally {
      w.sim.faults = {};
    }
  }, 20_000);
});

describe('Slack channels (the stand-in follows Slack: public with chat:write.public, private only when invited)', () => {
  it('a private channel the bot is not in: not_in_channel; once invited, the post lands', async () => {
    w.slack.channels.push({ id: 'G0PRIV', name: 'private-oncall', is_private: true, is_member: false });
    const n = new SlackNotifier('t', '#private-oncall', async () => 'xoxb-t', w.slack.apiUrl);
    const msg = { kind: 'stopped' as const, severity: 'info' as const, title: 'x', text: 'y', fields: [], data: {} };
    await expect(n.send(msg)).rejects.toThrow(/not_in_channel/);
    w.slack.channels.at(-1)!.is_member = true;
    await expect(n.send(msg)).resolves.toBeDefined();
  });
});

describe('each tool reads its answers right', () => {
  it('Teams: help, list and status are separate paragraphs (a single line break collapses there)', async () => {
    await w.tracked('teams-lines-1');
    await w.tracked('teams-lines-2');
    for (const text of [await teamsText('help'), await teamsText('list')]) {
      expect(text.split('\n\n').length).toBeGreaterThan(2);
      expect(text.replace(/\n\n/g, '')).not.toContain('\n');
    }
  });

  it('Slack: the help text’s <id> and <connection>/<externalId> are escaped (Slack reads <…> as a link even in code)', async () => {
    const text = JSON.parse((await w.webhook.handle(slackRequest(cmd('help')))).response.body).text as string;
    expect(text).toContain('`cancel &lt;id&gt; [reason]`');
    expect(text).toContain('`&lt;connection&gt;/&lt;externalId&gt;`');
    expect(text).not.toMatch(/<[a-z]/i);
  });

  it('Discord: help and the list hint in its own slash-command syntax', async () => {
    const help = JSON.parse((await hook.handle(discord(slash('help', {})))).response.body).data.content as string;
    expect(help).toContain('`/watchdog cancel id:<id> [reason:…]`');
    expect(help).toContain('`/watchdog list [filter:…]`');
    expect(help).not.toMatch(/`cancel <id>/);
    const long = discordContent(Array.from({ length: 60 }, (_, i) => `line ${i} ${'x'.repeat(60)}`).join('\n'));
    expect(long).toMatch(/narrow it with `\/watchdog list filter:<connection or policy>`$/);
  });

  it('cuts never split an emoji (no lone surrogate)', () => {
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
    for (let n = 2; n < 12; n++) expect(clip('😀'.repeat(10), n)).not.toMatch(lone);
    expect(discordContent(`${'a'.repeat(1_998)}😀😀`)).not.toMatch(lone);
  });

  it('Slack’s ssl_check is answered 200 unsigned and runs nothing; an unsigned command is still 401', async () => {
    const check = await w.webhook.handle({
      method: 'POST',
      path: '/slack/commands',
      query: new URLSearchParams(),
      headers: {},
      body: 'ssl_check=1&token=legacy',
    });
    expect([check.response.status, check.response.body]).toEqual([200, '']);
    const unsigned = await w.webhook.handle({
      method: 'POST',
      path: '/slack/commands',
      query: new URLSearchParams(),
      headers: {},
      body: 'ssl_check=1&command=%2Fwatchdog&text=help',
    });
    expect(unsigned.response.status).toBe(401);
  });

  it('webhook.ackBudget is bounded by Slack’s 3 s', () => {
    const base = {
      connections: { k: { provider: 'kodexa', baseUrl: 'https://k.example.com', secret: 's' } },
      policies: [{ name: 'default', maxRuntime: '1h' }],
    };
    expect(() => compileConfig({ ...base, webhook: { ackBudget: '10s' } })).toThrow(/webhook\.ackBudget: at most 2\.5s: Slack drops an answer after 3s/);
    expect(compileConfig({ ...base, webhook: { ackBudget: '2500ms' } }).webhook.ackBudgetMs).toBe(2_500);
  });
});

describe('people, refusals and sizes, per tool', () => {
  const press = async (value: unknown, user: string, channel: string) => {
    w.slack.responses.length = 0;
    const payload = JSON.stringify({
      type: 'block_actions',
      user: { id: user },
      channel: { id: channel },
      response_url: `${w.slack.responseBase}/T1/press`,
      actions: [{ value: JSON.stringify(value) }],
    });
    const res = await w.webhook.handle(slackRequest({ payload }, { path: '/slack/interactions' }));
    await res.background;
    return w.slack.responses.map((r) => r.body as { text: string; response_type?: string });
  };

  it('a button pressed by a channel member without rights: "you may not", and who may — about the execution the message shows', async () => {
    const id = await w.tracked('button-stranger');
    const [answer] = await press({ a: 'cancel', id }, 'USTRANGER', 'CSTRANGER');
    expect(answer).toMatchObject({
      response_type: 'ephemeral',
      text: 'You may not cancel this execution: only <@UALLOWED>, members of <#CALLOWED> may (policy "default").',
    });
    expect((await w.rt.store.get(id))?.state).toBe('running');
    // A typed command still does not tell a stranger that the id exists.
    const typed = JSON.parse((await w.webhook.handle(slackRequest(cmd(`cancel ${id}`, 'USTRANGER')))).response.body).text as string;
    expect(typed).toBe(`No tracked execution ${id}.`);
  });

  it('people as each tool shows them: a Slack mention, the name Teams carried; the audit keeps the id', async () => {
    const id = await w.tracked('mention-me');
    const ext = JSON.parse((await w.webhook.handle(slackRequest(cmd(`extend ${id} 30m`)))).response.body).text as string;
    expect(ext).toBe(`Extended ${id} by 30m (by <@UALLOWED>).`);
    const alice = { id: 'x', aadObjectId: 'UALLOWED', name: 'Alice Example' };
    await teams(`snooze ${id} 30m`, alice);
    const teamsRes = await teams(`extend ${id} 15m`, alice);
    expect(JSON.parse(teamsRes.response.body).text).toBe(`Extended ${TEAMS.esc(id)} by 15m (by Alice Example).`);
    const events = (await w.rt.watchdog.show(id)).events;
    expect(events.filter((e) => e.what.startsWith('extended')).map((e) => e.actor.id)).toEqual(['slack:UALLOWED', 'teams:UALLOWED']);
    // Discord: a mention for its own numeric ids (allowed_mentions keeps it from pinging); anything else as text.
    expect([actorText(DISCORD, 'discord:803512345678901234'), actorText(DISCORD, 'discord:U1'), actorText(DISCORD, 'policy:default')]).toEqual([
      '<@803512345678901234>',
      'discord:U1',
      'policy:default',
    ]);
    expect(actorText(SLACK, 'discord:803512345678901234')).toBe('discord:803512345678901234');
  });

  it('the largest realistic list (20 executions, 1 KB ids) fits each tool: Slack ≤ 12,000 characters, Teams ≤ 80 KB, with what was left out', async () => {
    for (let i = 0; i < 20; i++) await w.tracked(`${'k'.repeat(1_000)}-${i}`);
    const slackText = JSON.parse((await w.webhook.handle(slackRequest(cmd('list')))).response.body).text as string;
    expect(slackText.length).toBeLessThanOrEqual(12_000);
    expect(slackText).toMatch(/… and \d+ more: narrow it with `list &lt;connection\|policy&gt;`$/);
    const teamsRes = await teams('list');
    expect(Buffer.byteLength(teamsRes.response.body)).toBeLessThanOrEqual(80_000);
    expect(JSON.parse(teamsRes.response.body).text).toMatch(/… and \d+ more: narrow it with/);
  });
});
