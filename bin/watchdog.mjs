#!/usr/bin/env node
// The `watchdog` command. In this repository: the TypeScript sources through tsx's loader
// (no build step, never a stale build). Installed from npm: the compiled CLI (dist/).
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

if (existsSync(new URL('./cli.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
} else {
  await import(new URL('../dist/bin/cli.js', import.meta.url).href);
}
