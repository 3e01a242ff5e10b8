/** Option parsing shared by the CLI's commands: one error text per mistake, never a silent default. */
import type { HeartbeatInput } from '../core/model.js';
import { isPrototypeName } from '../core/own.js';
import { InputError } from '../errors.js';

export function parseLabels(list: string[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const labels = new Map<string, string>();
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InputError(`--label expects key=value, got "${kv}"`);
    const key = kv.slice(0, eq);
    if (isPrototypeName(key)) throw new InputError(`--label: key "${key}" is reserved`);
    labels.set(key, kv.slice(eq + 1));
  }
  return Object.fromEntries(labels);
}

export function parseProgress(text: string): HeartbeatInput['progress'] {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct) return { pct: Number(pct[1]) };
  const frac = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(text);
  if (frac) return { done: Number(frac[1]), total: Number(frac[2]) };
  const n = /^\d+(?:\.\d+)?$/.exec(text);
  if (n) return { done: Number(text) };
  throw new InputError(`--progress expects "40%", "12/50" or "12", got "${text}"`);
}

export function parseNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new InputError(`${name} expects a number, got "${text}"`);
  return n;
}

/** `--port`: 0 (any free port) to 65535. */
export function parsePort(text: string): number {
  const port = parseNumber('--port', text);
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) throw new InputError(`--port expects 0-65535, got "${text}"`);
  return port;
}

/** A repeatable option's values, in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
