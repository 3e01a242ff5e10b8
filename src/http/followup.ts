/**
 * Follow-ups: the slow half of a chat action, done after the answer. In a local server it
 * simply runs after the response is written. In Lambda nothing runs after a handler returns,
 * so the webhook hands the job to a queue whose consumer is the webhook function itself (a
 * second invocation): it carries out the cancel and posts the outcome to Slack's
 * `response_url` or Discord's interaction webhook. A failed job is retried by the queue and
 * dead-lettered (alarmed) in the end; the execution is `cancel_requested` and due, so the
 * sweep enforces it regardless.
 */
import * as z from 'zod';

const Who = z.strictObject({ tool: z.enum(['slack', 'discord', 'teams', 'hook']), userId: z.string().max(256), channelId: z.string().max(256).optional() });
const Reply = z.strictObject({ to: z.enum(['slack', 'discord']), url: z.url().max(2_000) });

export const FollowUp = z.discriminatedUnion('kind', [
  /** A heartbeat reported a breach (cost, progress): enforce it now rather than at the next pass. */
  z.strictObject({ kind: z.literal('enforce'), v: z.literal(1), id: z.string().regex(/^wd_[a-z0-9]{12}$/) }),
  /** A cancel already requested: carry it out, then post the outcome. */
  z.strictObject({ kind: z.literal('cancel'), v: z.literal(1), id: z.string().regex(/^wd_[a-z0-9]{12}$/), reply: Reply }),
  /** A Slack button press: run it, then replace the warning. */
  z.strictObject({
    kind: z.literal('slack-button'),
    v: z.literal(1),
    who: Who,
    responseUrl: z.url().max(2_000).optional(),
    cmd: z.discriminatedUnion('cmd', [
      z.strictObject({ cmd: z.literal('cancel'), ref: z.string().max(1100), reason: z.string().max(500).optional() }),
      z.strictObject({ cmd: z.literal('extend'), ref: z.string().max(1100), duration: z.string().max(16), reason: z.string().max(500).optional() }),
      z.strictObject({ cmd: z.literal('snooze'), ref: z.string().max(1100), duration: z.string().max(16) }),
      z.strictObject({ cmd: z.literal('keep'), ref: z.string().max(1100), duration: z.string().max(16) }),
    ]),
  }),
]);
export type FollowUp = z.infer<typeof FollowUp>;

/** Where follow-ups go when they cannot run after the answer in this process. */
export interface FollowUpQueue {
  send(job: FollowUp): Promise<void>;
}

/** Amazon SQS, loaded on first use; the queue URL comes from the construct. */
export class SqsFollowUps implements FollowUpQueue {
  private client: Promise<{ send: (job: FollowUp) => Promise<void> }> | undefined;
  constructor(private readonly queueUrl: string) {}
  send(job: FollowUp): Promise<void> {
    this.client ??= import('@aws-sdk/client-sqs').then((m) => {
      // Bounded like every AWS client here: a slow SQS costs the answer a few seconds, never the function.
      const sqs = new m.SQSClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true } });
      // A second of delay: Discord must have the interaction's first answer before a follow-up.
      return {
        send: async (j: FollowUp) =>
          void (await sqs.send(new m.SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(j), DelaySeconds: 1 }))),
      };
    });
    return this.client.then((c) => c.send(job));
  }
}
