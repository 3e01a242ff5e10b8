/**
 * `npm run mutation`: StrykerJS on the pure core (src/core/{policy,transitions,duration}.ts)
 * against the fast tests (vitest.mutation.config.ts), then the score as bench-style JSON
 * lines: `mutation_score_core` and one `mutation_score:<file>` each. StrykerJS 9 (10 needs
 * Node ≥ 22 and made `npm ci` warn on the Node 20 this project supports) runs on the Node
 * that runs this script. The HTML/JSON report goes to .mutation/.
 * Slow (about 5 minutes on 2 cores): not part of CI; run it when changing src/core.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const stryker = path.join(path.dirname(require.resolve('@stryker-mutator/core/package.json')), 'bin', 'stryker.js');
const run = spawnSync(process.execPath, [stryker, 'run'], { stdio: ['ignore', 'inherit', 'inherit'] });
if (run.status !== 0) process.exit(run.status ?? 1);

type Status = 'Killed' | 'Timeout' | 'Survived' | 'NoCoverage' | 'CompileError' | 'RuntimeError' | 'Ignored';
const report = JSON.parse(readFileSync('.mutation/report.json', 'utf8')) as { files: Record<string, { mutants: Array<{ status: Status }> }> };
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
  JSON.stringify({ name: 'mutation_score_core', value: Math.round((1000 * killed) / valid) / 10, unit: '%', target: '>= 85', killed, mutants: valid }),
);
for (const l of lines) console.log(JSON.stringify(l));
