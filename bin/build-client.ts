/**
 * `npm run build:client`: the tracker's package, `runaway-watchdog-client`, in packages/client:
 * `src/client.ts` (the one source; the server package exports it too) bundled twice with its
 * signer — ESM (dist/esm) and CommonJS (dist/cjs, marked `"type": "commonjs"`) — and its
 * declarations (client, the dependency-free wire types, the signer) beside each. No runtime
 * dependency: signing is node:crypto. The version follows the server package's.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PKG = path.join(ROOT, 'packages', 'client');
const DIST = path.join(PKG, 'dist');
const require = createRequire(import.meta.url);

rmSync(DIST, { recursive: true, force: true });
for (const [format, dir] of [
  ['esm', 'esm'],
  ['cjs', 'cjs'],
] as const) {
  await build({
    entryPoints: [path.join(ROOT, 'src', 'client.ts')],
    outfile: path.join(DIST, dir, 'client.js'),
    bundle: true,
    platform: 'node',
    target: 'node18',
    format,
    logLevel: 'warning',
  });
}
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.client.json')], { stdio: 'inherit' });
// The same declarations for require(): under dist/cjs they read as CommonJS.
for (const f of readdirSync(path.join(DIST, 'esm'), { recursive: true, encoding: 'utf8' })) {
  if (f.endsWith('.d.ts')) {
    mkdirSync(path.dirname(path.join(DIST, 'cjs', f)), { recursive: true });
    cpSync(path.join(DIST, 'esm', f), path.join(DIST, 'cjs', f));
  }
}
writeFileSync(path.join(DIST, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
copyFileSync(path.join(ROOT, 'LICENSE'), path.join(PKG, 'LICENSE'));
const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const manifest = JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8')) as { version: string };
if (manifest.version !== version) {
  manifest.version = version;
  writeFileSync(path.join(PKG, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
console.log(`packages/client/dist: esm, cjs (runaway-watchdog-client ${version})`);
