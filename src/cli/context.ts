/** What every CLI command shares: output, the global options, and the runtime on the chosen table. */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Watchdog } from '../app/service.js';
import type { Actor } from '../core/model.js';
import type { Target } from '../local/target.js';
import type { Runtime } from '../runtime.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The package's root, from source (src/cli) or compiled (dist/src/cli). */
export const PACKAGE_ROOT = path.basename(path.resolve(HERE, '..', '..')) === 'dist' ? path.resolve(HERE, '..', '..', '..') : path.resolve(HERE, '..', '..');
export const packageVersion = (): string => (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The demo's config: every URL on this machine (the simulators'). */
export const DEMO_CONFIG = path.join(PACKAGE_ROOT, 'examples', 'demo.yaml');

export interface GlobalOpts {
  config?: string;
  table?: string;
  region?: string;
  endpoint?: string;
  dataDir?: string;
  json?: boolean;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export interface Cli {
  io: Io;
  /** The global options as parsed. */
  opts: () => GlobalOpts;
  /** `--json` prints `json`; otherwise the human text. */
  print: (json: unknown, human: () => string) => void;
  /** The whole runtime (store, providers, notifiers, sweeper) on the chosen table, closed after. */
  withRuntime: <T>(fn: (rt: Runtime, target: Target) => Promise<T>) => Promise<T>;
  withWatchdog: <T>(fn: (wd: Watchdog, target: Target) => Promise<T>) => Promise<T>;
}

/** Exit with a code, having already printed the reason. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * Which config a command uses: `-c`, else $WATCHDOG_CONFIG, else ./watchdog.yaml (your own),
 * else the demo's. The demo (`watchdog start` with simulators) skips ./watchdog.yaml: a
 * deploy config in the folder never turns the demo toward real platforms.
 */
export function resolveConfigPath(explicit?: string, o: { demo?: boolean; cwd?: string } = {}): string {
  if (explicit) return explicit;
  if (process.env.WATCHDOG_CONFIG) return process.env.WATCHDOG_CONFIG;
  if (!o.demo && existsSync(path.join(o.cwd ?? '.', 'watchdog.yaml'))) return 'watchdog.yaml';
  return DEMO_CONFIG;
}

export const cliActor = (): Actor => ({ id: `cli:${os.userInfo().username}`, via: 'cli' });
