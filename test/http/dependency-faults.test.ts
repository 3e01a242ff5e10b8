/**
 * The webhook's own faults are never a refusal: with its secret denied, missing or slow, a
 * tracker's heartbeat and a person's Slack command get 503 + Retry-After (never the 401 that
 * says "you are refused"), the fault is remembered for the sweep's heartbeat rule, and a
 * wrong key with readable secrets is still 401. The client retries 503 and succeeds once
 * the secret is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { WatchdogClient } from '../../src/client.js';
import { serveWebhook } from '../../src/http/server.js';
import { Webhook } from '../../src/http/webhook.js';
import { AwsSecrets, type SecretSource } from '../../src/secrets.js';
import { API_KEY, type WebhookWorld, bearer, cmd, slackRequest, startWebhookWorld, v2Request } from '../helpers/webhook-world.js';

let w: WebhookWorld;
beforeAll(async () => {
  w = await startWebhookWorld();
}, 60_000);
afterAll(async () => {
  await w?.close();
});

/** The world's secrets, except those named in `denied`, which fail as Secrets Manager's AccessDenied does. */
function denying(denied: Set<string>): SecretSource {
  const inner = (w.webhook as unknown as { deps: { secrets: SecretSource } }).deps.secrets;
  return {
    get: async (name, opts) => {
      if (denied.has(name)) {
        const err = new Error(`User is not authorized to perform: secretsmanager:GetSecretValue on resource: ${name}`);
        Object.assign(err, { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
        throw err;
      }
      return inner.get(name, opts);
    },
  };
}

describe("the webhook's own dependency faults", () => {
  it('secret denied: heartbeat (bearer and v2-signed) and a Slack command get 503 + Retry-After, never 401; the ingest fault is recorded', async () => {
    const id = await w.tracked();
    const denied = new Set(['api', 'hooks', 'slack']);
    const hook = new Webhook({ runtime: w.rt, secrets: denying(denied) });
    const before = await w.rt.ledger.lastIngestFault();
    for (const req of [
      bearer('POST', `/v1/executions/${id}/heartbeat`, '{}'),
      v2Request('POST', `/v1/executions/${id}/heartbeat`, '{}'),
      slackRequest(cmd(`status ${id}`)),
    ]) {
      const { response } = await hook.handle(req);
      expect(`${req.path}: ${response.status}`).toBe(`${req.path}: 503`);
      expect(response.headers['retry-after']).toBe('5');
      expect(JSON.parse(response.body)).toMatchObject({ code: 'unavailable' });
    }
    const after = await w.rt.ledger.lastIngestFault();
    expect(after).toBeGreaterThan(before ?? 0);
    expect((await w.rt.store.get(id))!.heartbeats ?? 0).toBe(0);

    // Secrets readable: a wrong key is still refused as a wrong key.
    denied.clear();
    expect((await hook.handle(bearer('POST', `/v1/executions/${id}/heartbeat`, '{}', 'not-our-key'))).response.status).toBe(401);
    expect((await hook.handle(bearer('POST', `/v1/executions/${id}/heartbeat`, '{}'))).response.status).toBe(200);
  });

  it('Secrets Manager that never answers: the read gives up within its bound and the request gets 503, not a timeout of the function', async () => {
    const hanging = { send: () => new Promise(() => {}) } as unknown as SecretsManagerClient;
    const hook = new Webhook({ runtime: w.rt, secrets: new AwsSecrets(hanging, 60_000, Date.now, 200) });
    const id = await w.tracked();
    const started = Date.now();
    const { response } = await hook.handle(bearer('POST', `/v1/executions/${id}/heartbeat`, '{}'));
    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a value read before is used when the refresh fails (a denied or slow refresh is no outage); fresh reads never fall back', async () => {
    let fail = false;
    let calls = 0;
    const client = {
      send: async () => {
        calls++;
        if (fail) throw Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: {} });
        return { SecretString: 'v1' };
      },
    } as unknown as SecretsManagerClient;
    let now = 0;
    const s = new AwsSecrets(client, 1_000, () => now);
    // Concurrent readers share one call.
    expect(await Promise.all([s.get('x'), s.get('x'), s.get('x')])).toEqual(['v1', 'v1', 'v1']);
    expect(calls).toBe(1);
    fail = true;
    now = 5_000; // past the TTL
    expect(await s.get('x')).toBe('v1');
    await expect(s.get('x', { fresh: true })).rejects.toThrow(/denied/);
  });

  it('WatchdogClient retries a 503 with backoff and succeeds once the secret is readable again', async () => {
    const denied = new Set(['api']);
    const hook = new Webhook({ runtime: w.rt, secrets: denying(denied) });
    const served = await serveWebhook(hook, { port: 0, maxBodyBytes: 8192 });
    try {
      const id = await w.tracked();
      let seen = 0;
      const client = new WatchdogClient({
        baseUrl: served.url,
        apiKey: API_KEY,
        backoffMs: 10,
        fetch: async (url, init) => {
          const res = await fetch(url, init);
          if (++seen === 2) denied.clear(); // the outage ends after two refused attempts
          return res.status === 503 ? new Response(await res.text(), { status: 503 }) : res;
        },
      });
      const hb = await client.heartbeat(id, { costUsd: 1 });
      expect(hb.execution.costUsd).toBe(1);
      expect(seen).toBe(3);
      // With retries off, the 503 reaches the caller as what it is.
      denied.add('api');
      const once = new WatchdogClient({ baseUrl: served.url, apiKey: API_KEY, attempts: 1 });
      await expect(once.heartbeat(id, {})).rejects.toMatchObject({ status: 503 });
    } finally {
      await served.close();
    }
  });
});

describe('a follow-up says only what the provider said', () => {
  it('a claimed cancel whose call was never answered is "sent", not "accepted"; an accepted one is "accepted"', async () => {
    const { outcomeText } = await import('../../src/http/commands.js');
    const { SLACK } = await import('../../src/notify/markup.js');
    const { execution } = await import('../helpers/fixtures.js');
    const unanswered = outcomeText(execution({ state: 'cancelling', lease: { holder: 'h', until: Date.now() + 60_000 } }), SLACK);
    expect(unanswered).toMatch(/sent; the provider has not answered yet/);
    expect(unanswered).not.toMatch(/accepted/);
    expect(outcomeText(execution({ state: 'cancelling', cancelAcceptedAt: Date.now() }), SLACK)).toMatch(/accepted by the provider/);
  });
});
