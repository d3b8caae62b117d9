// Fails when src/ has an import cycle (design rule: imports run one way). Prints each cycle found.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', 'src');
const files: string[] = [];
const walk = (dir: string): void => {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full);
    else if (name.endsWith('.ts')) files.push(full);
  }
};
walk(root);

// Type-only imports vanish at run time but still couple modules: they count too.
const IMPORT = /(?:import|export)\s[^'";]*?from\s+'(\.{1,2}\/[^']+)'|import\('(\.{1,2}\/[^']+)'\)/g;
const graph = new Map<string, string[]>();
for (const file of files) {
  const deps: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (spec) deps.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  graph.set(file, deps.filter((d) => graph.has(d) || files.includes(d)));
}

// Tarjan's strongly connected components: any component larger than one file is a cycle.
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const cycles: string[][] = [];
const visit = (v: string): void => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) === idx.get(v)) {
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) cycles.push(scc.map((f) => path.relative(root, f)).sort());
  }
};
for (const f of files) if (!idx.has(f)) visit(f);

if (cycles.length > 0) {
  for (const c of cycles) process.stderr.write(`import cycle: ${c.join(' ↔ ')}\n`);
  process.exit(1);
}
process.stdout.write(`imports: ${files.length} files in src/, no cycles\n`);
