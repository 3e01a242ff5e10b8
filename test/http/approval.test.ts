/**
 * Approval mode end to end: the real sweep on dynalite asks in Slack (the stand-in), a person
 * answers with the request's buttons through the signed webhook, the superglue simulator is
 * (or is not) cancelled. The runtime's clock is the test's; signatures keep the real one.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Execution } from '../../src/core/model.js';
import { HOUR, MIN } from '../helpers/fixtures.js';
import { type WebhookWorld, slackRequest, startWebhookWorld } from '../helpers/webhook-world.js';

let w: WebhookWorld;
let t = Date.now();
beforeAll(async () => {
  w = await startWebhookWorld({
    now: () => t,
    config: (simUrl, _hookBase, slackApi) => ({
      settings: { confirmWithin: '5s', probeEvery: '0' },
      connections: { sg: { provider: 'superglue', baseUrl: simUrl, secret: 'sg' } },
      notify: { oncall: { type: 'slack', channel: '#oncall', tokenSecret: 'slack', apiUrl: slackApi } },
      webhook: { slack: { secret: 'slack' }, ackBudget: '500ms' },
      policies: [
        {
          name: 'default',
          maxRuntime: '1h',
          maxExtension: '2h',
          onBreach: 'approve',
          approveWithin: '30m',
          notify: ['oncall'],
          allow: { users: ['UALLOWED'] },
        },
        {
          name: 'keeper',
          match: { labels: { team: 'ml' } },
          maxRuntime: '1h',
          maxCostUsd: 50,
          onBreach: 'approve',
          approveWithin: '30m',
          onSilence: 'keep',
          hardMaxCostUsd: 100,
          notify: ['oncall'],
          allow: { users: ['UALLOWED'] },
        },
      ],
    }),
  });
}, 30_000);
afterAll(async () => {
  await w?.close();
});
// Each test's runs end with it: the next test's sweeps count only its own.
const live: string[] = [];
afterEach(async () => {
  for (const id of live.splice(0)) await w.rt.watchdog.finish(id, { id: 'test', via: 'test' }).catch(() => undefined);
});
const track = async (extra?: Record<string, unknown>) => {
  const id = await w.tracked(undefined, extra);
  live.push(id);
  return id;
};

const get = async (id: string) => (await w.rt.store.get(id)) as Execution;
const events = async (id: string) => (await w.rt.store.getWithEvents(id))!.events;
const sweep = () => w.rt.sweeper.run();
const externalOf = async (id: string) => (await get(id)).externalId;

/** Press a button of the approval request as `user` (in a channel that grants nothing). */
async function press(value: unknown, user: string) {
  w.slack.responses.length = 0;
  const payload = {
    payload: JSON.stringify({
      type: 'block_actions',
      user: { id: user },
      channel: { id: 'CX' },
      trigger_id: `tr-${Math.random()}`,
      response_url: `${w.slack.responseBase}/T1/btn`,
      actions: [{ value: JSON.stringify(value) }],
    }),
  };
  const res = await w.webhook.handle(slackRequest(payload, { path: '/slack/interactions' }));
  expect(res.response.status).toBe(200);
  await res.background;
  return w.slack.responses.map((r) => r.body as { replace_original?: boolean; response_type?: string; text: string });
}

/** The latest Slack post about this execution, and its buttons' values. */
function lastPost(id: string) {
  const post = w.slack.posts.filter((p) => JSON.stringify(p.blocks).includes(id)).at(-1);
  const actions = (post?.blocks as Array<{ type: string; elements?: Array<{ text: { text: string }; value: string }> }> | undefined)?.find(
    (b) => b.type === 'actions',
  );
  return { post, buttons: actions?.elements?.map((e) => ({ label: e.text.text, value: JSON.parse(e.value) as unknown })) ?? [] };
}

describe('approval mode (onBreach: approve)', () => {
  it("at the breach it asks with Cancel now / Keep running 1h; a stranger's press changes nothing; an allowed person's Keep keeps it (audited), and a later breach asks again", async () => {
    t = Date.now();
    const id = await track();
    t += HOUR + MIN;
    const s1 = await sweep();
    expect(s1).toMatchObject({ approvalsAsked: 1, cancelled: 0, cancelCalls: 0 });
    const { post, buttons } = lastPost(id);
    expect(post?.text).toMatch(/Approval needed: .*Breached its runtime limit\. Policy "default" asks before cancelling/);
    expect(buttons).toEqual([
      { label: 'Cancel now', value: { a: 'cancel', id } },
      { label: 'Keep running 1h', value: { a: 'keep', id, d: '1h' } },
    ]);
    const before = await get(id);
    expect(before).toMatchObject({ state: 'warned', approval: { until: t + 30 * MIN, reasons: ['runtime'] } });

    const [refused] = await press({ a: 'keep', id, d: '1h' }, 'USTRANGER');
    expect(refused).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/You may not keep this execution: only <@UALLOWED> may/) });
    expect((await get(id)).version).toBe(before.version);

    t += 5 * MIN;
    const [kept] = await press({ a: 'keep', id, d: '1h' }, 'UALLOWED');
    expect(kept).toMatchObject({ replace_original: true, text: expect.stringContaining('Kept') });
    const after = await get(id);
    expect(after.approval).toMatchObject({ answer: 'keep', by: 'slack:UALLOWED', keptUntil: t + HOUR });
    expect((await events(id)).at(-1)).toMatchObject({ what: 'kept running for 1h', actor: { id: 'slack:UALLOWED', via: 'slack' } });

    // Past the request's original answer time: kept, nothing cancelled, nothing asked.
    t += 30 * MIN;
    expect(await sweep()).toMatchObject({ approvalsAsked: 0, cancelCalls: 0 });
    expect(w.sim.cancelCalls.get(await externalOf(id)) ?? 0).toBe(0);
    // The extended runtime limit (2h) breached: a new request, not a cancel.
    t += 30 * MIN;
    expect(await sweep()).toMatchObject({ approvalsAsked: 1, cancelCalls: 0 });
    expect((await get(id)).approval).toMatchObject({ keys: { runtime: after.startedAt + 2 * HOUR } });
  });

  it('nobody answers: after approveWithin the silence is audited and the run is cancelled (onSilence: cancel)', async () => {
    t = Date.now();
    const id = await track();
    t += HOUR + MIN;
    await sweep();
    t += 29 * MIN;
    expect(await sweep()).toMatchObject({ cancelCalls: 0 });
    t += 2 * MIN;
    expect(await sweep()).toMatchObject({ approvalsUnanswered: 1, cancelled: 1, cancelCalls: 1 });
    expect(await get(id)).toMatchObject({ state: 'cancelled', stopReasons: ['runtime'], approval: { answer: 'silence' } });
    expect((await events(id)).map((e) => e.what)).toEqual(expect.arrayContaining(['approval asked', 'approval unanswered', 'cancel claimed', 'cancelled']));
    expect(w.sim.cancelCalls.get(await externalOf(id))).toBe(1);
  });

  it('Cancel now from an allowed person cancels and answers the request', async () => {
    t = Date.now();
    const id = await track();
    t += HOUR + MIN;
    await sweep();
    const [done] = await press({ a: 'cancel', id }, 'UALLOWED');
    expect(done?.text).toContain('Cancelled');
    expect(await get(id)).toMatchObject({ state: 'cancelled', approval: { answer: 'cancel', by: 'slack:UALLOWED' } });
  });

  it('onSilence: keep — the silence keeps it running and says so; the hard cost ceiling then cancels without asking', async () => {
    t = Date.now();
    const id = await track({ labels: { team: 'ml' } });
    t += HOUR + MIN;
    expect(await sweep()).toMatchObject({ approvalsAsked: 1 });
    t += 31 * MIN;
    expect(await sweep()).toMatchObject({ approvalsUnanswered: 1, cancelCalls: 0 });
    expect(lastPost(id).post?.text).toMatch(/No answer, kept running: .*at \$100 it is cancelled/);
    expect(await get(id)).toMatchObject({ state: 'warned', approval: { answer: 'silence' } });
    t += 2 * HOUR;
    expect(await sweep()).toMatchObject({ cancelCalls: 0, approvalsAsked: 0 });
    await w.rt.watchdog.heartbeat(id, { costUsd: 120 });
    expect(await sweep()).toMatchObject({ cancelled: 1, approvalsAsked: 0 });
    expect(await get(id)).toMatchObject({ state: 'cancelled', stopReasons: ['runtime', 'cost'] });
  });
});
