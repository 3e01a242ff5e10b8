/** Generic outgoing webhook: the message as JSON, signed like the inbound hooks (v2 HMAC over method, path and body). */
import { HttpClient } from '../providers/http.js';
import { signedHeaders, targetOf } from '../security/signing.js';
import { type Message, type Notifier, NotifyError } from './types.js';

export class OutgoingHookNotifier implements Notifier {
  private readonly client: HttpClient;
  private readonly path: string;
  /** The signed path and query (canonical form, see security/signing.ts). */
  private readonly target_: string;
  constructor(
    readonly target: string,
    url: string,
    private readonly secret: () => Promise<string>,
    private readonly now: () => number = Date.now,
  ) {
    const u = new URL(url);
    this.path = u.pathname + u.search;
    this.target_ = targetOf(url);
    this.client = new HttpClient(u.origin, { attempts: 1, timeoutMs: 5_000 });
  }

  async send(m: Message, thread?: string): Promise<{ thread?: string }> {
    const body = JSON.stringify({
      severity: m.severity,
      title: m.title,
      text: m.text,
      fields: Object.fromEntries(m.fields),
      ...m.data,
      ...(thread ? { thread } : {}),
    });
    const res = await this.client
      .request(
        'POST',
        this.path,
        {
          'content-type': 'application/json',
          ...signedHeaders(await this.secret(), { method: 'POST', target: this.target_, body }, this.now()),
        },
        body,
      )
      .catch((err: Error) => {
        throw new NotifyError(`webhook: ${err.message}`);
      });
    if (res.status < 200 || res.status >= 300) throw new NotifyError(`webhook: HTTP ${res.status}`);
    return {};
  }
}
