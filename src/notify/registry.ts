/** Notifiers per configured notify target, built lazily with their secrets. */
import type { WatchdogConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { type SecretSource, readSecretField } from '../secrets.js';
import { SlackNotifier } from './slack.js';
import type { Notifier } from './types.js';
import { OutgoingHookNotifier } from './outgoing-hook.js';

export interface NotifierLookup {
  forTarget(name: string): Notifier;
}

export class NotifierRegistry implements NotifierLookup {
  private readonly cache = new Map<string, Notifier>();
  constructor(
    private readonly config: WatchdogConfig,
    private readonly secrets: SecretSource,
  ) {}

  forTarget(name: string): Notifier {
    let n = this.cache.get(name);
    if (n) return n;
    const t = this.config.notify.get(name);
    if (!t) throw new ConfigError([`unknown notify target "${name}"`]);
    const field = (secret: string, key: string) => () => readSecretField(this.secrets, secret, key);
    n =
      t.type === 'slack'
        ? new SlackNotifier(name, t.channel, field(t.tokenSecret, 'botToken'), t.apiUrl)
        : new OutgoingHookNotifier(name, t.url, field(t.secret, 'signingSecret'));
    this.cache.set(name, n);
    return n;
  }
}
