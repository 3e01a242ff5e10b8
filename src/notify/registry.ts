/** Notifiers per configured notify target, built lazily with their secrets. */
import type { WatchdogConfig } from '../config/load.js';
import type { NotifyTargetConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { type SecretSource, readSecretField } from '../secrets.js';
import { SlackNotifier } from './slack.js';
import { type EventKind, INCIDENT_KINDS, type Notifier } from './types.js';
import { OutgoingHookNotifier } from './outgoing-hook.js';
import { OpsgenieNotifier, PagerDutyNotifier } from './oncall.js';

export interface NotifierLookup {
  forTarget(name: string): Notifier;
}

/** Does this target take messages of this kind (its `on`, or its type's default)? */
export function accepts(t: NotifyTargetConfig | undefined, kind: EventKind): boolean {
  if (t === undefined) return true; // an unknown target fails at delivery, loudly
  if (kind === 'digest') return true; // settings.digest names its targets itself
  if (t.on !== undefined) return t.on.includes(kind);
  return t.type === 'pagerduty' || t.type === 'opsgenie' ? INCIDENT_KINDS.includes(kind) : true;
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
        : t.type === 'pagerduty'
          ? new PagerDutyNotifier(name, t.apiUrl, field(t.routingKeySecret, 'routingKey'))
          : t.type === 'opsgenie'
            ? new OpsgenieNotifier(name, t.apiUrl, field(t.apiKeySecret, 'apiKey'))
            : new OutgoingHookNotifier(name, t.url, field(t.secret, 'signingSecret'));
    this.cache.set(name, n);
    return n;
  }
}
