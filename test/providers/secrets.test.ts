import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSecrets, secretField } from '../../src/secrets.js';
import { type SecretsManagerStandIn, startSecretsManager } from '../helpers/secrets-manager.js';

/** A local endpoint speaking Secrets Manager's JSON protocol (no emulator exists). */
describe('AwsSecrets against a local GetSecretValue endpoint', () => {
  let sm: SecretsManagerStandIn;
  let endpoint = '';
  const setValue = (v: string) => sm.values.set('watchdog/catalyzed', v);
  beforeAll(async () => {
    sm = await startSecretsManager({ 'watchdog/catalyzed': '{"apiKey": "key-v1"}' });
    endpoint = sm.endpoint;
  });
  afterAll(() => sm.close());

  it('reads, caches within the TTL, refreshes on demand', async () => {
    let now = 0;
    const client = new SecretsManagerClient({ endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const s = new AwsSecrets(client, 60_000, () => now);
    expect(secretField(await s.get('watchdog/catalyzed'), 'apiKey')).toBe('key-v1');
    expect(secretField(await s.get('watchdog/catalyzed'), 'apiKey')).toBe('key-v1');
    expect(sm.calls).toBe(1);
    setValue('{"apiKey": "key-v2"}');
    expect(secretField(await s.get('watchdog/catalyzed', { fresh: true }), 'apiKey')).toBe('key-v2');
    now = 120_000;
    await s.get('watchdog/catalyzed');
    expect(sm.calls).toBe(3);
    await expect(s.get('missing')).rejects.toThrow();
    client.destroy();
  });

  it('without a client given, builds one on first read from the environment (as on Lambda)', async () => {
    const keys = ['AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    Object.assign(process.env, { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint, AWS_REGION: 'local', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' });
    try {
      setValue('{"apiKey": "key-env"}');
      const before = sm.calls;
      const s = new AwsSecrets();
      expect(secretField(await s.get('watchdog/catalyzed'), 'apiKey')).toBe('key-env');
      expect(sm.calls).toBe(before + 1);
    } finally {
      for (const k of keys)
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
    }
  });
});

describe('a connection secret that will not heal fails the cancel at once', () => {
  it('denied or missing → no_credentials, permanent → failed on the first attempt; a slow or throttled read is retried', async () => {
    const { compileConfig } = await import('../../src/config/load.js');
    const { ProviderRegistry } = await import('../../src/providers/registry.js');
    const { toCancelResult } = await import('../../src/app/outcome.js');
    const sm = await startSecretsManager({});
    try {
      const config = compileConfig({
        connections: { k: { provider: 'kodexa', baseUrl: 'http://127.0.0.1:1', secret: 'wd/missing' } },
        policies: [{ name: 'default', maxRuntime: '1h' }],
      });
      const client = new SecretsManagerClient({ endpoint: sm.endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
      const adapter = new ProviderRegistry(config, new AwsSecrets(client)).forConnection('k');
      const out = await adapter.cancel('run-1');
      expect(out).toMatchObject({ kind: 'no_credentials', permanent: true });
      const ctx = { now: 0, attempts: 1, maxAttempts: 8, pendingCheckMs: 1000 };
      expect(toCancelResult(out, ctx)).toMatchObject({ kind: 'failed', error: expect.stringMatching(/grant or fix the secret/) });
      expect(toCancelResult({ kind: 'no_credentials', error: 'slow' }, ctx)).toMatchObject({ kind: 'retry' });
    } finally {
      await sm.close();
    }
  });
});
