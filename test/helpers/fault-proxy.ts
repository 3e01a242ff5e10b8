/**
 * A proxy in front of a DynamoDB engine that injects AWS's faults per operation: throttle
 * (400 ThrottlingException, which the SDK retries), fail (500 InternalServerError), or hang
 * (never answers). A rule may match only requests whose body contains a marker (one
 * execution's id), so a fault can hit one item while the rest of the sweep goes on.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'throttle' | 'fail' | 'hang';
export interface FaultRule {
  op: string;
  fault: Fault;
  /** Only requests whose body contains this text. */
  when?: string;
  /** How many requests to fault (default: all). */
  times?: number;
}

export interface FaultProxy {
  endpoint: string;
  rules: FaultRule[];
  /** Requests faulted, per "<op> <fault>". */
  hits: Map<string, number>;
  /** Every request seen, per operation (X-Amz-Target's last part; "" for other HTTP). */
  requests: Map<string, number>;
  close(): Promise<void>;
}

/** `latency`: a delay before each request is forwarded (the network and the service of AWS, or a provider). */
/** `onRequest`: sees every request's operation and body (the IAM test records the calls made). */
export async function startFaultProxy(target: string, o: { latency?: () => number; onRequest?: (op: string, body: string) => void } = {}): Promise<FaultProxy> {
  const up = new URL(target);
  const p: FaultProxy = { endpoint: '', rules: [], hits: new Map(), requests: new Map(), close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const op =
        String(req.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      const text = body.toString('utf8');
      p.requests.set(op, (p.requests.get(op) ?? 0) + 1);
      o.onRequest?.(op, text);
      const rule = p.rules.find((r) => r.op === op && (r.when === undefined || text.includes(r.when)) && (r.times === undefined || r.times > 0));
      if (rule) {
        if (rule.times !== undefined) rule.times--;
        const key = `${op} ${rule.fault}`;
        p.hits.set(key, (p.hits.get(key) ?? 0) + 1);
        if (rule.fault === 'hang') return;
        const [status, type] = rule.fault === 'throttle' ? [400, 'ThrottlingException'] : [500, 'InternalServerError'];
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': type });
        res.end(JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: `injected ${rule.fault}` }));
        return;
      }
      const forward = () => {
        const fwd = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 500, r.headers);
          r.pipe(res);
        });
        fwd.on('error', () => res.destroy());
        fwd.end(body);
      };
      const delay = o.latency?.() ?? 0;
      if (delay > 0) setTimeout(forward, delay);
      else forward();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  p.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  p.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return p;
}
