/**
 * `npm run build` step 2: bundle the two Lambda handlers into dist/assets/<name>/index.mjs
 * with the same esbuild settings the construct uses at synth from source, so the npm
 * package's construct deploys them without esbuild or TypeScript on the user's machine.
 */
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAMBDA_BANNER } from '../lib/runaway-watchdog.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const name of ['sweeper', 'webhook']) {
  await build({
    entryPoints: [path.join(ROOT, 'lambdas', `${name}.ts`)],
    outfile: path.join(ROOT, 'dist', 'assets', name, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    banner: { js: LAMBDA_BANNER },
    external: ['@aws-sdk/*', '@smithy/*'],
    logLevel: 'warning',
  });
}
console.log('dist/assets: sweeper, webhook');
