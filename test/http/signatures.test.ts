/**
 * The signature and replay checks at their edges, against values computed here by hand (not
 * by the code under test): the v2 string and its HMAC, the freshness window at each end, the
 * Discord and Teams formats, and the replay guard on dynalite (a copy within the window, a
 * copy after it, an error that is not a copy). A wrong comparison here lets a stranger act.
 */
import { createHmac, generateKeyPairSync, sign as edSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackCurl, slackSignature, teamsSignature, verifyDiscord, verifySlack, verifyTeams } from '../../src/http/verify.js';
import { type Engine, startDynalite } from '../../src/local/engines.js';
import { FUTURE_SKEW_SECONDS, WINDOW_SECONDS, canonicalTarget, freshTimestamp, safeEqual, signV2, targetOf, verifyV2 } from '../../src/security/signing.js';
import { dynamoClient } from '../../src/store/client.js';
import { ensureTable } from '../../src/store/dynamo.js';
import { DynamoReplayGuard } from '../../src/store/replay.js';

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const sec = Math.floor(NOW / 1000);

describe('freshTimestamp: the window at both ends', () => {
  it('fresh from FUTURE_SKEW ahead to WINDOW behind, inclusive; a second further either way is not', () => {
    expect(freshTimestamp(String(sec - WINDOW_SECONDS), NOW)).toBe(true);
    expect(freshTimestamp(String(sec - WINDOW_SECONDS - 1), NOW)).toBe(false);
    expect(freshTimestamp(String(sec + FUTURE_SKEW_SECONDS), NOW)).toBe(true);
    expect(freshTimestamp(String(sec + FUTURE_SKEW_SECONDS + 1), NOW)).toBe(false);
    expect(freshTimestamp(String(sec), NOW)).toBe(true);
  });
  it('only 1–12 digits: no sign, no fraction, no exponent, no padding, nothing missing', () => {
    for (const bad of [undefined, '', `${sec}.0`, `+${sec}`, `-${sec}`, `${sec}x`, `x${sec}`, ` ${sec}`, '1e9', '0000000000000']) {
      expect(freshTimestamp(bad, NOW), String(bad)).toBe(false);
    }
  });
});

describe('v2: the string signed, by hand', () => {
  const hand = (secret: string, text: string) => `v2=${createHmac('sha256', secret).update(text).digest('hex')}`;
  it('v2\\n<ts>\\n<METHOD upper-cased>\\n<target>\\n<body>', () => {
    const req = { method: 'post', target: '/v1/executions/wd_x/finish?b=2&a=1', body: '{"a":1}' };
    expect(signV2('s3cret', sec, req)).toBe(hand('s3cret', `v2\n${sec}\nPOST\n/v1/executions/wd_x/finish?b=2&a=1\n{"a":1}`));
  });
  it('the canonical target: the path as sent, the query re-serialised; none without one', () => {
    expect(canonicalTarget('/a/b%2Fc')).toBe('/a/b%2Fc');
    expect(canonicalTarget('/a', new URLSearchParams())).toBe('/a');
    expect(canonicalTarget('/a', new URLSearchParams('x=1 2&y'))).toBe('/a?x=1+2&y=');
    expect(targetOf('https://h.example/prod/v1/x?q=a%20b')).toBe('/prod/v1/x?q=a+b');
  });
  it('verifyV2: right signature and fresh; anything else false', () => {
    const req = { method: 'POST', target: '/hooks/cancel', body: '{}' };
    const ok = { 'x-watchdog-timestamp': String(sec), 'x-watchdog-signature': hand('k', `v2\n${sec}\nPOST\n/hooks/cancel\n{}`) };
    expect(verifyV2('k', ok, req, NOW)).toBe(true);
    expect(verifyV2('k', { ...ok, 'x-watchdog-signature': undefined }, req, NOW)).toBe(false);
    expect(verifyV2('k', { ...ok, 'x-watchdog-timestamp': undefined }, req, NOW)).toBe(false);
    expect(verifyV2('k', ok, req, NOW + (WINDOW_SECONDS + 1) * 1000)).toBe(false);
    expect(verifyV2('other', ok, req, NOW)).toBe(false);
    expect(verifyV2('k', ok, { ...req, method: 'GET' }, NOW)).toBe(false);
  });
  it('safeEqual: equal only when equal, whatever the lengths or characters', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('abcd', 'abc')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('é', 'e\u0301')).toBe(false);
    expect(safeEqual('ü', 'ü')).toBe(true);
  });
});

describe('Slack, Discord, Teams', () => {
  it('Slack: v0 over v0:<ts>:<body>, fresh; the curl carries exactly those headers', () => {
    const sig = `v0=${createHmac('sha256', 'sl').update(`v0:${sec}:a=1`).digest('hex')}`;
    expect(slackSignature('sl', String(sec), 'a=1')).toBe(sig);
    expect(verifySlack('sl', { 'x-slack-request-timestamp': String(sec), 'x-slack-signature': sig }, 'a=1', NOW)).toBe(true);
    expect(verifySlack('sl', { 'x-slack-request-timestamp': String(sec), 'x-slack-signature': sig }, 'a=2', NOW)).toBe(false);
    expect(verifySlack('sl', { 'x-slack-request-timestamp': String(sec - WINDOW_SECONDS - 1), 'x-slack-signature': sig }, 'a=1', NOW)).toBe(false);
    const curl = slackCurl('http://127.0.0.1:8787/slack/commands', 'sl', "text=it's", NOW);
    expect(curl).toBe(
      `curl -s 'http://127.0.0.1:8787/slack/commands' -H 'content-type: application/x-www-form-urlencoded' -H 'x-slack-request-timestamp: ${sec}' -H 'x-slack-signature: ${slackSignature('sl', String(sec), "text=it's")}' --data 'text=it'\\''s'`,
    );
  });

  it('Discord: Ed25519 over <ts><body>; a signature or key of the wrong shape, or a stale time, is false without verifying', () => {
    const keys = generateKeyPairSync('ed25519');
    const pub = (keys.publicKey.export({ format: 'der', type: 'spki' }) as Buffer).subarray(12).toString('hex');
    const sign = (ts: number, body: string) => edSign(null, Buffer.from(`${ts}${body}`), keys.privateKey).toString('hex');
    const h = (sig: string | undefined, ts: number | undefined) => ({
      'x-signature-ed25519': sig,
      'x-signature-timestamp': ts === undefined ? undefined : String(ts),
    });
    const good = sign(sec, '{}');
    expect(verifyDiscord(pub, h(good, sec), '{}', NOW)).toBe(true);
    expect(verifyDiscord(pub.toUpperCase(), h(good.toUpperCase(), sec), '{}', NOW)).toBe(true);
    expect(verifyDiscord(pub, h(good, sec), '{"x":1}', NOW)).toBe(false);
    expect(verifyDiscord(pub, h(undefined, sec), '{}', NOW)).toBe(false);
    expect(verifyDiscord(pub, h(good, undefined), '{}', NOW)).toBe(false);
    expect(verifyDiscord(pub, h(good.slice(2), sec), '{}', NOW)).toBe(false);
    expect(verifyDiscord(pub, h(`${good}00`, sec), '{}', NOW)).toBe(false);
    expect(verifyDiscord(pub, h(`zz${good.slice(2)}`, sec), '{}', NOW)).toBe(false);
    const stale = sec - WINDOW_SECONDS - 1;
    expect(verifyDiscord(pub, h(sign(stale, '{}'), stale), '{}', NOW)).toBe(false);
    expect(verifyDiscord(pub.slice(2), h(good, sec), '{}', NOW)).toBe(false);
    expect(verifyDiscord(`${pub}00`, h(good, sec), '{}', NOW)).toBe(false);
    expect(verifyDiscord(`zz${pub.slice(2)}`, h(good, sec), '{}', NOW)).toBe(false);
    // A key of the right shape that is not a curve point: false, never a throw.
    expect(verifyDiscord('00'.repeat(32), h(good, sec), '{}', NOW)).toBe(false);
  });

  it('Teams: "HMAC " + base64 HMAC-SHA256 keyed by the decoded token; the prefix is required', () => {
    const token = Buffer.from('teams-token-bytes').toString('base64');
    const expected = `HMAC ${createHmac('sha256', Buffer.from('teams-token-bytes')).update('{"a":"ü"}', 'utf8').digest('base64')}`;
    expect(teamsSignature(token, '{"a":"ü"}')).toBe(expected);
    expect(verifyTeams(token, { authorization: expected }, '{"a":"ü"}')).toBe(true);
    expect(verifyTeams(token, { authorization: expected.slice(5) }, '{"a":"ü"}')).toBe(false);
    expect(verifyTeams(token, { authorization: `Bearer ${expected.slice(5)}` }, '{"a":"ü"}')).toBe(false);
    expect(verifyTeams(token, {}, '{"a":"ü"}')).toBe(false);
    expect(verifyTeams(token, { authorization: expected }, '{"a":"u"}')).toBe(false);
  });
});

describe('the replay guard (dynalite)', () => {
  let engine: Engine;
  let client: ReturnType<typeof dynamoClient>;
  beforeAll(async () => {
    engine = await startDynalite();
    client = dynamoClient({ endpoint: engine.endpoint });
    await ensureTable(client, 'replay');
  });
  afterAll(async () => {
    client?.destroy();
    await engine?.close();
  });

  it('first time true; a copy within the window false; a copy after it true again; each identity apart', async () => {
    const g = new DynamoReplayGuard(client, 'replay');
    expect(await g.firstSeen('v2:abc', 60_000, NOW)).toBe(true);
    expect(await g.firstSeen('v2:abc', 60_000, NOW + 59_000)).toBe(false);
    expect(await g.firstSeen('v2:abd', 60_000, NOW + 1_000)).toBe(true);
    // Remembered until the window's end (rounded up to the second), then free again.
    expect(await g.firstSeen('v2:abc', 60_000, NOW + 60_000)).toBe(false);
    expect(await g.firstSeen('v2:abc', 60_000, NOW + 61_000)).toBe(true);
    const item = await client.send(
      new (await import('@aws-sdk/client-dynamodb')).ScanCommand({
        TableName: 'replay',
        FilterExpression: 'sk = :n',
        ExpressionAttributeValues: { ':n': { S: 'N' } },
      }),
    );
    expect(item.Items?.every((i) => /^N#[A-Za-z0-9_-]{43}$/.test(i.pk?.S ?? ''))).toBe(true);
  });

  it('an error that is not a copy is thrown, never read as "seen before"', async () => {
    const g = new DynamoReplayGuard(client, 'no-such-table');
    await expect(g.firstSeen('v2:x', 60_000, NOW)).rejects.toThrow();
  });
});
