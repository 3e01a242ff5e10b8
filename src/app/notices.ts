/**
 * Notice delivery. An execution's notices ride in its outbox, written with the transition
 * that caused them; `deliver` sends the due ones and settles the outbox (a failure stays for
 * the next sweep: duplicates beat silence). `alert` sends a sweep-level message (a cap reached,
 * a quarantined item, a connection's health) to targets. Neither ever throws.
 */
import type { WatchdogConfig } from '../config/load.js';
import { policyFor } from '../config/load.js';
import type { Actor, Execution, NoticeKind, Reason, ReplyTo } from '../core/model.js';
import * as T from '../core/transitions.js';
import { type Log, redact } from '../log.js';
import { type NotifierLookup, accepts } from '../notify/registry.js';
import { eventKindOf, renderNotice } from '../notify/render.js';
import { REPLY_TARGET, replyNotifier } from '../notify/reply.js';
import type { Message, Notifier } from '../notify/types.js';
import type { ExecutionStore } from '../store/types.js';
import { contextFor } from './context.js';
import type { Tally } from './summary.js';

export type { NoticeKind };

export interface NoticeDeps {
  config: WatchdogConfig;
  store: ExecutionStore;
  notifiers: NotifierLookup;
  log: Log;
  now: () => number;
  /** Who settles the outbox in the audit (the sweeper). */
  actor: Actor;
  /** The asker's channel as a notifier (tests post elsewhere). */
  replies?: (reply: ReplyTo) => Notifier;
}

export class Notices {
  private readonly ctx: (e: Execution) => T.Ctx;

  constructor(private readonly deps: NoticeDeps) {
    this.ctx = contextFor(deps.config, deps.now);
  }

  /** Add notices for the policy's notify targets to a transition (the same write). */
  add(t: T.Transition, cur: Execution, kind: NoticeKind | undefined, reasons?: Reason[]): T.Transition {
    if (kind === undefined || !t.ok) return t;
    // Each target takes the kinds its `on` lists (PagerDuty and Opsgenie: trouble only, by default).
    const kindOf = eventKindOf({ kind, state: t.execution.state });
    const targets = policyFor(this.deps.config, cur).notify.filter((n) => accepts(this.deps.config.notify.get(n), kindOf));
    // A person who asked for this cancel in chat waits for its outcome there too.
    const asker = kind === 'outcome' && cur.replyTo !== undefined && cur.replyTo.until > this.deps.now();
    return T.withNotices(t, asker ? [...targets, REPLY_TARGET] : targets, kind, this.ctx(cur), reasons);
  }

  /** Send this execution's due notices, then settle the outbox. */
  async deliver(e: Execution, tally: Tally): Promise<void> {
    const now = this.deps.now();
    const dueNotices = (e.outbox ?? []).filter((n) => n.nextAt <= now);
    if (dueNotices.length === 0) return;
    const policy = policyFor(this.deps.config, e);
    const deliveries: T.Delivery[] = await Promise.all(
      dueNotices.map(async (n): Promise<T.Delivery> => {
        try {
          if (n.target === REPLY_TARGET && (e.replyTo === undefined || e.replyTo.until <= now)) {
            // Past what the tool allows: the policy's channel has the outcome (its thread, in Slack).
            this.deps.log.info('asker channel expired; the outcome went to the policy targets', { executionId: e.id });
            return { key: n.key, ok: true };
          }
          const notifier = n.target === REPLY_TARGET ? (this.deps.replies ?? replyNotifier)(e.replyTo!) : this.deps.notifiers.forTarget(n.target);
          const r = await notifier.send(renderNotice(e, n, policy, now), e.threads?.[n.target]);
          tally.count('noticesSent');
          return { key: n.key, ok: true, ...(r.thread ? { thread: r.thread } : {}) };
        } catch (err) {
          tally.count('noticesFailed');
          const error = redact((err as Error).message);
          this.deps.log.warn('notification failed', { executionId: e.id, target: n.target, kind: n.kind, error });
          return { key: n.key, ok: false, error };
        }
      }),
    );
    try {
      await this.deps.store.mutate(e.id, (c) => T.settleNotices(c, deliveries, this.deps.actor, this.ctx(c)), e);
    } catch (err) {
      // Unsettled notices stay in the outbox and are sent again: duplicates beat silence.
      this.deps.log.warn('could not settle notices', { executionId: e.id, error: redact((err as Error).message) });
    }
  }

  /** A sweep-level message (not one execution's outbox) to each target. */
  async alert(targets: Iterable<string>, m: Message, tally: Tally, what: string): Promise<void> {
    await Promise.all(
      [...targets]
        .filter((t) => accepts(this.deps.config.notify.get(t), m.kind))
        .map(async (t) => {
          try {
            await this.deps.notifiers.forTarget(t).send(m);
            tally.count('noticesSent');
          } catch (err) {
            tally.count('noticesFailed');
            this.deps.log.warn(`${what} failed`, { target: t, error: redact((err as Error).message) });
          }
        }),
    );
  }
}
