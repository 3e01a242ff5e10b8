/**
 * Conformance that does not rest on our own stand-ins' opinion: what we send is assigned to
 * the platforms' official types (`@slack/types`, `discord-api-types`) — `npm run typecheck`
 * fails if a shape drifts — and the documented limits are asserted on the largest messages.
 */
import type { KnownBlock } from '@slack/types';
import type { APIInteractionResponseCallbackData, RESTPostAPIWebhookWithTokenJSONBody, RESTPutAPIApplicationCommandsJSONBody } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import { DISCORD_COMMAND } from '../../src/http/discord-command.js';
import { DISCORD_MAX, discordMessage } from '../../src/http/webhook.js';
import { slackBlocks } from '../../src/notify/slack.js';
import type { Message } from '../../src/notify/types.js';

const long = (n: number) => `${'<@everyone> &'.repeat(Math.ceil(n / 13))}`.slice(0, n);
const warning: Message = {
  kind: 'warning',
  severity: 'warning',
  title: `Runaway warning: conn/${long(500)}`,
  text: long(3_500),
  fields: Array.from({ length: 12 }, (_, i) => [`Field ${i}`, long(2_500)] as [string, string]),
  executionId: 'wd_abcdefghijkl',
  actions: 'warning',
  data: {},
};

describe('Slack Block Kit', () => {
  it("our blocks are @slack/types KnownBlocks, within Slack's limits (≤ 50 blocks, section text ≤ 3,000, ≤ 10 fields of ≤ 2,000, ≤ 25 elements)", () => {
    const blocks: KnownBlock[] = slackBlocks(warning); // type-checked against the official types
    expect(blocks.length).toBeLessThanOrEqual(50);
    for (const b of blocks) {
      if (b.type === 'section') {
        expect((b.text?.text ?? '').length).toBeLessThanOrEqual(3_000);
        expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
        for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2_000);
      }
      if (b.type === 'actions') {
        expect(b.elements.length).toBeLessThanOrEqual(25);
        for (const e of b.elements) if (e.type === 'button') expect(e.value?.length ?? 0).toBeLessThanOrEqual(2_000);
      }
    }
  });
});

describe('Discord', () => {
  it("the registered command is a RESTPutAPIApplicationCommandsJSONBody; names and descriptions within Discord's limits", () => {
    const body: RESTPutAPIApplicationCommandsJSONBody = [DISCORD_COMMAND];
    const check = (o: { name: string; description?: string; options?: readonly unknown[] }) => {
      expect(o.name).toMatch(/^[-_\p{Ll}\p{N}]{1,32}$/u);
      expect((o.description ?? '').length).toBeLessThanOrEqual(100);
      expect((o.options ?? []).length).toBeLessThanOrEqual(25);
      for (const x of o.options ?? []) check(x as typeof o);
    };
    body.forEach((c) => check(c));
  });

  it('every message we send is a valid interaction answer and webhook follow-up, ≤ 2,000 characters, pinging nobody', () => {
    const asAnswer: APIInteractionResponseCallbackData = discordMessage(long(5_000), true);
    const asFollowUp: RESTPostAPIWebhookWithTokenJSONBody = discordMessage(long(5_000), false);
    for (const m of [asAnswer, asFollowUp]) {
      expect((m.content ?? '').length).toBeLessThanOrEqual(DISCORD_MAX);
      expect(m.allowed_mentions).toEqual({ parse: [] });
    }
  });
});
