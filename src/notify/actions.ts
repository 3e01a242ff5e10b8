/**
 * What a chat button carries: the action and the execution id, as compact JSON in the
 * button's `value`. Decoded (and validated) by the webhook's interaction route.
 */
import * as z from 'zod';

export const ButtonAction = z.discriminatedUnion('a', [
  z.strictObject({ a: z.literal('extend'), id: z.string().regex(/^wd_[a-z0-9]{12}$/), d: z.string().min(1).max(16) }),
  z.strictObject({ a: z.literal('cancel'), id: z.string().regex(/^wd_[a-z0-9]{12}$/) }),
  z.strictObject({ a: z.literal('snooze'), id: z.string().regex(/^wd_[a-z0-9]{12}$/), d: z.string().min(1).max(16) }),
  z.strictObject({ a: z.literal('keep'), id: z.string().regex(/^wd_[a-z0-9]{12}$/), d: z.string().min(1).max(16) }),
]);
export type ButtonAction = z.infer<typeof ButtonAction>;

export const encodeAction = (a: ButtonAction): string => JSON.stringify(a);

export function decodeAction(value: string): ButtonAction | undefined {
  try {
    const r = ButtonAction.safeParse(JSON.parse(value));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The buttons on a warning, in order. */
export function warningActions(id: string): Array<{ label: string; action: ButtonAction; style?: 'primary' | 'danger' }> {
  return [
    { label: 'Extend 30m', action: { a: 'extend', id, d: '30m' }, style: 'primary' },
    { label: 'Cancel now', action: { a: 'cancel', id }, style: 'danger' },
    { label: 'Snooze warnings', action: { a: 'snooze', id, d: '1h' } },
  ];
}

/** How long a "Keep running" press keeps a run (capped by the policy's maxExtension). */
export const KEEP_FOR = '1h';

/** The buttons on an approval request, in order. */
export function approvalActions(id: string): Array<{ label: string; action: ButtonAction; style?: 'primary' | 'danger' }> {
  return [
    { label: 'Cancel now', action: { a: 'cancel', id }, style: 'danger' },
    { label: `Keep running ${KEEP_FOR}`, action: { a: 'keep', id, d: KEEP_FOR }, style: 'primary' },
  ];
}
