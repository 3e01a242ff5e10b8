import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSecrets, secretField } from '../../src/secrets.js';

/** A local endpoint speaking Secrets Manager's JSON protocol (no emulator exists). */
describe('AwsSecrets against a local GetSecretValue endpoint', () => {
  let server: http.Server;
  let calls = 0;
  let value = '{"apiKey": "key-v1"}';
  let endpoint = '';
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls++;
        const target = req.headers['x-amz-target'];
        const { SecretId } = JSON.parse(body) as { SecretId: string };
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        if (target !== 'secretsmanager.GetSecretValue' || SecretId !== 'watchdog/catalyzed') {
          res.writeHead(400, { 'x-amzn-errortype': 'ResourceNotFoundException' });
          res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'not found' }));
          return;
        }
        res.end(JSON.stringify({ Name: SecretId, SecretString: value, ARN: 'arn:aws:secretsmanager:local:0:secret:x', VersionId: 'v' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads, caches within the TTL, refreshes on demand', async () => {
    let now = 0;
    const client = new SecretsManagerClient({ endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const s = new AwsSecrets(client, 60_000, () => now);
    expect(secretField(await s.get('watchdog/catalyzed'), 'apiKey')).toBe('key-v1');
    expect(secretField(await s.get('watchdog/catalyzed'), 'apiKey')).toBe('key-v1');
    expect(calls).toBe(1);
    value = '{"apiKey": "key-v2"}';
    expect(secretField(await s.get('watchdog/catalyzed', { fresh: true }), 'apiKey')).toBe('key-v2');
    now = 120_000;
    await s.get('watchdog/catalyzed');
    expect(calls).toBe(3);
    await expect(s.get('missing')).rejects.toThrow();
    client.destroy();
  });

  it('without a client given, builds one on first read from the environment (as on Lambda)', async () => {
    const keys = ['AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    Object.assign(process.env, { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint, AWS_REGION: 'local', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' });
    try {
      value = '{"apiKey": "key-env"}';
      const before = calls;
      const s = new AwsSecrets();
      expect(secretField(await s.get('watchdog/catalyzed'), 'apiKey')).toBe('key-env');
      expect(calls).toBe(before + 1);
    } finally {
      for (const k of keys) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  });
});
