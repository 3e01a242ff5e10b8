/** A local endpoint speaking Secrets Manager's JSON protocol (`X-Amz-Target: secretsmanager.GetSecretValue`); no emulator exists. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SecretsManagerStandIn {
  endpoint: string;
  /** Secret name → SecretString; delete one to make it "not found". */
  values: Map<string, string>;
  /** Faults by secret name: 'deny' answers AccessDeniedException (a role or key policy without the grant), 'hang' never answers. */
  faults: Map<string, 'deny' | 'hang'>;
  calls: number;
  close(): Promise<void>;
}

export async function startSecretsManager(values: Record<string, unknown>): Promise<SecretsManagerStandIn> {
  const sm: SecretsManagerStandIn = {
    endpoint: '',
    values: new Map(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
    faults: new Map(),
    calls: 0,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      sm.calls++;
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      let id = '';
      try {
        const secretId = (JSON.parse(body) as { SecretId?: unknown }).SecretId;
        id = typeof secretId === 'string' ? secretId : '';
      } catch {
        // falls through to not found
      }
      const fault = sm.faults.get(id);
      if (fault === 'hang') return; // no answer, ever (the socket stays open)
      if (fault === 'deny') {
        res.writeHead(400, { 'x-amzn-errortype': 'AccessDeniedException' });
        res.end(
          JSON.stringify({ __type: 'AccessDeniedException', message: `User is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id}` }),
        );
        return;
      }
      const value = sm.values.get(id);
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue' || value === undefined) {
        res.writeHead(400, { 'x-amzn-errortype': 'ResourceNotFoundException' });
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }));
        return;
      }
      res.end(JSON.stringify({ Name: id, SecretString: value, ARN: `arn:aws:secretsmanager:local:000000000000:secret:${id}-AbCdEf`, VersionId: 'v1' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  sm.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sm.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return sm;
}
