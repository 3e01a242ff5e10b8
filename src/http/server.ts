/**
 * `watchdog serve` (also started by `npm start`): the webhook handler on plain HTTP,
 * 127.0.0.1 by default. Bodies are capped while reading, before anything else happens.
 * No request, however malformed (an unparsable target, raw bytes on the socket, a client
 * that vanishes mid-body), can take the process down: it gets a 400 (or its socket closed)
 * and the server goes on.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WatchdogError } from '../errors.js';
import type { ErrorCode } from '../api/wire.js';
import type { HttpRequest } from './types.js';
import type { Webhook } from './webhook.js';

export interface Served {
  url: string;
  close(): Promise<void>;
  /** Follow-ups still running (response_url posts); awaited by close(). */
  pending: Set<Promise<void>>;
}

export async function serveWebhook(webhook: Webhook, opts: { port?: number; host?: string; maxBodyBytes: number }): Promise<Served> {
  const pending = new Set<Promise<void>>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > opts.maxBodyBytes) tooBig = true;
      else chunks.push(c);
    });
    req.on('error', () => req.destroy());
    res.on('error', () => res.destroy());
    const fail = (status: number, code: ErrorCode, error: string) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error, code }));
    };
    req.on('end', () => {
      if (tooBig) return fail(413, 'body_too_large', 'body too large');
      let request: HttpRequest;
      try {
        const url = new URL(req.url ?? '/', 'http://local');
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
        request = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, body: Buffer.concat(chunks).toString('utf8') };
      } catch {
        return fail(400, 'invalid_request', 'malformed request target');
      }
      webhook
        .handle(request)
        .then(({ response, background }) => {
          res.writeHead(response.status, response.headers);
          res.end(response.body);
          if (background) {
            pending.add(background);
            void background.finally(() => pending.delete(background));
          }
        })
        .catch(() => fail(500, 'internal', 'internal error'));
    });
  });
  // Bytes that are not HTTP at all: answer 400 where the socket still takes it, then close.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new WatchdogError(`port ${opts.port} is already in use: stop the other process or pass --port`) : err),
    );
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${addr.port}`,
    pending,
    close: async () => {
      await Promise.allSettled([...pending]);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
