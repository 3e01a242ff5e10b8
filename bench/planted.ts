/**
 * `npm run planted`: does the protocol model (test/sweep/protocol-model.test.ts) find the bugs
 * this project once had? Each patch in bench/planted/ puts one back — the stall clock reset by
 * the first status read, a cancel recorded for a run that had finished, a claim that skips the
 * version check — in a copy of the working tree (src/, test/, configs; node_modules linked),
 * and the model runs there with its seed printed. One JSON line per patch: found or not, after
 * how many runs and how long (to the first failure, and with shrinking), and the shrunk
 * counterexample. The working tree itself is never touched.
 *
 * Options: `-- --runs N` (default 300), `-- --only <name>`, `-- --seed S`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : undefined);
const runs = opt('runs') ?? '300';
const only = opt('only');
const seed = opt('seed');
const root = process.cwd();
const patches = readdirSync(path.join(root, 'bench', 'planted'))
  .filter((f) => f.endsWith('.patch') && (only === undefined || f.startsWith(only)))
  .sort();
if (patches.length === 0) {
  console.error(`planted: no patch${only ? ` named ${only}*` : ''} in bench/planted/`);
  process.exit(2);
}

let missed = 0;
for (const patch of patches) {
  const dir = mkdtempSync(path.join(tmpdir(), 'wd-planted-'));
  try {
    for (const entry of ['src', 'test', 'bench', 'package.json', 'tsconfig.json', 'vitest.config.ts'])
      cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const applied = spawnSync('git', ['apply', path.join(root, 'bench', 'planted', patch)], { cwd: dir, encoding: 'utf8' });
    if (applied.status !== 0) throw new Error(`${patch} does not apply: ${applied.stderr.trim()}`);
    const run = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/sweep/protocol-model.test.ts'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, MODEL_RUNS: runs, ...(seed ? { MODEL_SEED: seed } : {}), FORCE_COLOR: '0', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    });
    const out = `${run.stdout}\n${run.stderr}`;
    const line = out.split('\n').find((l) => l.startsWith('{"name":"protocol_model"'));
    const result = line ? (JSON.parse(line) as Record<string, unknown>) : { error: 'no result line', tail: out.slice(-2000) };
    const shrunk = /shrunk commands: (.*?) \/\*/.exec(out)?.[1];
    const violated = /\n {2}(r\d+ \(.*)/.exec(out)?.[1];
    if (result.failed !== true) missed++;
    console.log(JSON.stringify({ ...result, name: `planted:${patch.replace(/\.patch$/, '')}`, found: result.failed === true, shrunk, violated }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
process.exit(missed === 0 ? 0 : 1);
