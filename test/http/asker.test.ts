/**
 * "The outcome will follow" kept for platforms that cancel asynchronously (Kodexa answers a
 * cancel with CANCELLING; CANCELLED comes later and only the sweep's status read sees it):
 * the person who asked hears the settled outcome where they asked — Slack's response_url, a
 * Discord interaction's webhook (the Lambda follow-up path) — once; past the tool's validity
 * only the policy's channel gets it. Kodexa simulator, dynalite, the Slack stand-in.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type WebhookWorld, cmd, slackRequest, startWebhookWorld } from '../helpers/webhook-world.js';

let w: WebhookWorld;
beforeAll(async () => {
  w = await startWebhookWorld({ platform: 'kodexa' });
}, 30_000);
afterAll(async () => {
  await w?.close();
});
beforeEach(() => {
  w.slack.responses.length = 0;
  w.slack.hooks.length = 0;
});

const texts = (bodies: Array<{ body: unknown }>) =>
  bodies.map((r) => (r.body as { text?: string; content?: string }).text ?? (r.body as { content?: string }).content ?? '');

/** Sweeps until the execution is terminal (Kodexa's CANCELLED comes after 300 ms; status reads are due every second). */
async function sweepUntilEnded(id: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await w.rt.sweeper.run();
    const e = await w.rt.store.get(id);
    if (e && ['cancelled', 'cancel_failed', 'cancel_unconfirmed', 'finished'].includes(e.state) && !e.outbox?.length) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${id} did not end`);
}

describe('a cancel the platform carries out later', () => {
  it('Slack: the asker hears "accepted" and then, once, the settled outcome on the same response_url', async () => {
    const id = await w.tracked('async-slack');
    const url = `${w.slack.responseBase}/T1/async-slack`;
    const res = await w.webhook.handle(slackRequest(cmd(`cancel ${id} too slow`, 'UALLOWED', { response_url: url })));
    await res.background;
    const first = texts(w.slack.responses.filter((r) => r.path.endsWith('/T1/async-slack')));
    expect(first).toEqual([
      expect.stringMatching(/accepted by the provider; waiting for it to take effect\. The outcome will be posted here when it takes effect\.$/),
    ]);
    await sweepUntilEnded(id);
    await w.rt.sweeper.run(); // a later sweep sends nothing more
    const all = texts(w.slack.responses.filter((r) => r.path.endsWith('/T1/async-slack')));
    expect(all.slice(1)).toEqual([expect.stringMatching(/^Cancelled: .*async-slack\. Cancelled by the watchdog \(manual\), requested by <@UALLOWED>\.$/)]);
    // The policy's channel has it as always, the person who asked as a mention.
    expect(w.slack.posts.some((p) => JSON.stringify(p).includes('async-slack') && JSON.stringify(p).includes('requested by <@UALLOWED>'))).toBe(true);
  });

  it('Discord through the Lambda follow-up: "accepted" at once (no wait for a state only the sweep changes), then the outcome once', async () => {
    const id = await w.tracked('async-discord');
    const requested = await w.rt.watchdog.requestCancel(id, { id: 'discord:D1', via: 'discord' }, 'from discord');
    expect(requested.ok).toBe(true);
    const url = `${w.slack.hookBase}/discord/webhooks/app/tok-async`;
    const t0 = Date.now();
    await w.webhook.followUp({ kind: 'cancel', v: 1, id, reply: { to: 'discord', url } });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(texts(w.slack.hooks)).toEqual([expect.stringMatching(/accepted by the provider.*The outcome will be posted here when it takes effect\.$/)]);
    await sweepUntilEnded(id);
    expect(texts(w.slack.hooks).slice(1)).toEqual([
      expect.stringMatching(/^Cancelled: sg\/async-discord\. Cancelled by the watchdog \\\(manual\\\), requested by discord:D1\.$/),
    ]);
    expect(w.slack.hooks[1]?.body).toMatchObject({ allowed_mentions: { parse: [] } });
  });

  it('past the tool’s validity the asker’s channel is skipped; the policy’s channel has the outcome', async () => {
    const id = await w.tracked('async-expired');
    const url = `${w.slack.responseBase}/T1/async-expired`;
    await w.rt.watchdog.cancelNow(id, { id: 'slack:UALLOWED', via: 'slack' }, 'x', 100);
    const e = await w.rt.watchdog.awaitOutcome(id, { to: 'slack', url, until: Date.now() + 200 });
    expect(e?.state).toBe('cancelling');
    await new Promise((r) => setTimeout(r, 300));
    await sweepUntilEnded(id);
    expect(w.slack.responses.filter((r) => r.path.endsWith('/T1/async-expired'))).toEqual([]);
    expect(w.slack.posts.some((p) => JSON.stringify(p).includes('async-expired') && JSON.stringify(p).includes('Cancelled'))).toBe(true);
  });

  it('a cancel that ended before the asker was remembered is told at once, and never again', async () => {
    const id = await w.tracked('ended-first');
    await w.rt.watchdog.cancelNow(id, { id: 'slack:UALLOWED', via: 'slack' }, 'x', 100);
    await sweepUntilEnded(id);
    const e = await w.rt.watchdog.awaitOutcome(id, { to: 'slack', url: `${w.slack.responseBase}/T1/late`, until: Date.now() + 60_000 });
    expect(e?.state).toBe('cancelled');
    expect((await w.rt.store.get(id))?.replyTo).toBeUndefined();
  });
});
