/**
 * `npm run mutation [-- --scope core|security|protocol] [--mutate src/app/cancel.ts] [--incremental]`: StrykerJS on one scope (bench/mutation-scopes.ts:
 * the pure core from its fast tests, by default; the signature and replay checks from the
 * webhook's suites on dynalite), then the score as bench-style JSON lines:
 * `mutation_score_<scope>` and one `mutation_score:<file>` each. StrykerJS 9 (10 needs
 * Node ≥ 22 and made `npm ci` warn on the Node 20 this project supports) runs on the Node
 * that runs this script. The HTML/JSON report goes to .mutation/.
 * Slow (the core: about 10 minutes on 2 cores): not part of CI; run it when changing what a scope covers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { MUTATION_SCOPES, type MutationScope } from './mutation-scopes.js';

const args = process.argv.slice(2);
const scopeArg = args.includes('--scope') ? args[args.indexOf('--scope') + 1] : 'core';
if (scopeArg === undefined || !Object.hasOwn(MUTATION_SCOPES, scopeArg)) {
  console.error(`mutation: --scope expects one of ${Object.keys(MUTATION_SCOPES).join(', ')}, got ${JSON.stringify(scopeArg)}`);
  process.exit(2);
}
const scope = scopeArg as MutationScope;
const { target } = MUTATION_SCOPES[scope];
// `--mutate <file or file:lines>` (repeatable): a part of the scope, against the scope's tests
// (to work on one file's survivors); the score line then covers that part only.
const only = args.flatMap((a, i) => (a === '--mutate' && args[i + 1] !== undefined ? [args[i + 1] as string] : []));
const mutate = only.length > 0 ? only : [...MUTATION_SCOPES[scope].mutate];
// One Stryker config per scope, from the checked-in one: what to mutate and where the report goes.
const base = JSON.parse(readFileSync('stryker.config.json', 'utf8')) as Record<string, unknown>;
mkdirSync('.mutation', { recursive: true });
const reportFile = `.mutation/report-${scope}.json`;
const configFile = `.mutation/stryker-${scope}.json`;
writeFileSync(
  configFile,
  JSON.stringify({
    ...base,
    $schema: undefined,
    mutate,
    jsonReporter: { fileName: reportFile },
    htmlReporter: { fileName: `.mutation/report-${scope}.html` },
    // `--incremental`: StrykerJS reuses a mutant's earlier result while its code and the tests
    // that covered it are unchanged (kept in .mutation/incremental-<scope>.json).
    ...(args.includes('--incremental') ? { incremental: true, incrementalFile: `.mutation/incremental-${scope}.json` } : {}),
  }),
);
const require = createRequire(import.meta.url);
const stryker = path.join(path.dirname(require.resolve('@stryker-mutator/core/package.json')), 'bin', 'stryker.js');
const run = spawnSync(process.execPath, [stryker, 'run', configFile], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, MUTATION_SCOPE: scope },
});
if (run.status !== 0) process.exit(run.status ?? 1);

type Status = 'Killed' | 'Timeout' | 'Survived' | 'NoCoverage' | 'CompileError' | 'RuntimeError' | 'Ignored';
const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { files: Record<string, { mutants: Array<{ status: Status }> }> };
let killed = 0;
let valid = 0;
const lines: object[] = [];
for (const [file, f] of Object.entries(report.files)) {
  const count = (s: Status) => f.mutants.filter((m) => m.status === s).length;
  const k = count('Killed') + count('Timeout');
  const v = k + count('Survived') + count('NoCoverage'); // Stryker's score: errors and ignored do not count
  killed += k;
  valid += v;
  lines.push({
    name: `mutation_score:${file}`,
    value: Math.round((1000 * k) / v) / 10,
    unit: '%',
    target: '>= 80',
    killed: k,
    survived: count('Survived'),
    noCoverage: count('NoCoverage'),
  });
}
console.log(
  JSON.stringify({
    name: `mutation_score_${scope}`,
    value: Math.round((1000 * killed) / valid) / 10,
    unit: '%',
    target: `>= ${target}`,
    killed,
    mutants: valid,
  }),
);
for (const l of lines) console.log(JSON.stringify(l));
