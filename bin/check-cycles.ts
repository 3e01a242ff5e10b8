/**
 * `npm run lint` step: no import cycles among the project's own modules (src, lib, lambdas,
 * bin). Follows relative imports (static, `import type` included, and `import()`), finds the
 * strongly connected components, prints each cycle and exits 1.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const roots = ['src', 'lib', 'lambdas', 'bin'];
const files: string[] = [];
const walk = (dir: string): void => {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(path.normalize(p));
  }
};
for (const r of roots) walk(r);

const known = new Set(files);
const edges = new Map<string, string[]>();
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.normalize(path.join(path.dirname(f), m[1]!.replace(/\.js$/, '.ts')));
    if (known.has(target)) out.push(target);
  }
  edges.set(f, out);
}

// Tarjan's strongly connected components.
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const on = new Set<string>();
const cycles: string[][] = [];
const visit = (v: string): void => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) === idx.get(v)) {
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) cycles.push(scc.sort());
  }
};
for (const f of files) if (!idx.has(f)) visit(f);

if (cycles.length > 0) {
  for (const c of cycles) console.error(`import cycle: ${c.join(' ↔ ')}`);
  process.exit(1);
}
console.log(`no import cycles (${files.length} modules)`);
