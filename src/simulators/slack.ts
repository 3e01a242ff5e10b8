/**
 * A local stand-in for the parts of Slack the watchdog talks to: the Web API's
 * `chat.postMessage` (bot token checked, `ts` returned, threads kept) and `response_url`
 * endpoints (`POST /response/<anything>`). It records everything it receives, and can be
 * told to fail the next N posts. Used by tests, benchmarks and the local demo.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackPost {
  channel: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  ts: string;
}

export interface SlackStandIn {
  /** Base URL to use as the notify target's `apiUrl`. */
  readonly apiUrl: string;
  /** Base URL for response_url stand-ins: `${responseBase}/<id>`. */
  readonly responseBase: string;
  readonly posts: SlackPost[];
  readonly responses: Array<{ path: string; body: unknown }>;
  /** Generic outgoing-webhook deliveries received on `${hookBase}/<anything>`. */
  readonly hooks: Array<{ path: string; body: unknown; signature?: string }>;
  readonly hookBase: string;
  /** Fail this many upcoming posts with `ok: false`. */
  failNext: number;
  /**
   * The workspace's channels as `conversations.list` shows them. Posting follows Slack's
   * rules: a public channel takes posts with chat:write.public, a private one only from a
   * member (else `not_in_channel`); an unknown channel is `channel_not_found`.
   */
  channels: Array<{ id: string; name: string; is_private: boolean; is_member: boolean }>;
  /** Called on every recorded post or response (live views). */
  onEvent?: (kind: 'post' | 'response' | 'hook', value: unknown) => void;
  close(): Promise<void>;
}

export async function startSlackStandIn(opts: { token: string; port?: number }): Promise<SlackStandIn> {
  let seq = 0;
  const sim: SlackStandIn = {
    apiUrl: '',
    responseBase: '',
    hookBase: '',
    posts: [],
    responses: [],
    hooks: [],
    failNext: 0,
    close: async () => {},
    channels: [
      { id: 'C0ONCALL', name: 'oncall', is_private: false, is_member: false },
      { id: 'C0MLONCALL', name: 'ml-oncall', is_private: false, is_member: false },
    ],
  };
  const findChannel = (ref: string) => sim.channels.find((c) => c.id === ref || `#${c.name}` === ref || c.name === ref);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
      } catch {
        return reply(200, { ok: false, error: 'invalid_json' });
      }
      const url = req.url ?? '/';
      if (req.method === 'POST' && url.startsWith('/response/')) {
        sim.responses.push({ path: url, body });
        sim.onEvent?.('response', body);
        return reply(200, { ok: true });
      }
      if (req.method === 'POST' && url.startsWith('/hook/')) {
        const sig = req.headers['x-watchdog-signature'];
        sim.hooks.push({ path: url, body, ...(typeof sig === 'string' ? { signature: sig } : {}) });
        sim.onEvent?.('hook', body);
        return reply(200, { ok: true });
      }
      if (req.method === 'POST' && url === '/api/auth.test') {
        if (req.headers.authorization !== `Bearer ${opts.token}`) return reply(200, { ok: false, error: 'invalid_auth' });
        return reply(200, {
          ok: true,
          url: 'https://stand-in.slack.com/',
          team: 'Stand-in',
          user: 'watchdog',
          team_id: 'T000STANDIN',
          user_id: 'U000WATCHDOG',
          bot_id: 'B000WATCHDOG',
        });
      }
      if (url.startsWith('/api/conversations.list')) {
        if (req.headers.authorization !== `Bearer ${opts.token}`) return reply(200, { ok: false, error: 'invalid_auth' });
        return reply(200, { ok: true, channels: sim.channels, response_metadata: { next_cursor: '' } });
      }
      if (req.method === 'POST' && url === '/api/chat.postMessage') {
        if (req.headers.authorization !== `Bearer ${opts.token}`) return reply(200, { ok: false, error: 'invalid_auth' });
        if (sim.failNext > 0) {
          sim.failNext--;
          return reply(200, { ok: false, error: 'internal_error' });
        }
        const b = body as Partial<SlackPost> | null;
        if (!b || typeof b.channel !== 'string' || typeof b.text !== 'string') return reply(200, { ok: false, error: 'invalid_arguments' });
        const channel = findChannel(b.channel);
        if (!channel) return reply(200, { ok: false, error: 'channel_not_found' });
        if (channel.is_private && !channel.is_member) return reply(200, { ok: false, error: 'not_in_channel' });
        const ts = `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
        const post: SlackPost = {
          channel: b.channel,
          text: b.text,
          ts,
          ...(b.blocks ? { blocks: b.blocks } : {}),
          ...(b.thread_ts ? { thread_ts: b.thread_ts } : {}),
        };
        sim.posts.push(post);
        sim.onEvent?.('post', post);
        return reply(200, { ok: true, channel: b.channel, ts });
      }
      reply(404, { ok: false, error: 'unknown_method' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(sim, {
    apiUrl: `${base}/api`,
    responseBase: `${base}/response`,
    hookBase: `${base}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return sim;
}
