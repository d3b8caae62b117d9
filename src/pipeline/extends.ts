import { didYouMean } from './did-you-mean.js';
import type { PipelineProblem } from './errors.js';
import { deepMerge, isPlainObject, type Json } from './merge.js';
import { problemAt, type SourceFile } from './yaml-source.js';

export const MAX_EXTENDS_DEPTH = 10;

/**
 * Resolve `extends` for every job (hidden `.templates` too): parents merge in order, the job's own
 * keys last. Unknown parents, cycles and chains deeper than MAX_EXTENDS_DEPTH are problems.
 */
export function resolveExtends(
  jobs: Map<string, Json>,
  originOf: (name: string) => SourceFile,
): { jobs: Map<string, Json>; problems: PipelineProblem[]; broken: Set<string> } {
  const problems: PipelineProblem[] = [];
  const broken = new Set<string>();
  const done = new Map<string, Json>();
  const names = [...jobs.keys()];

  const resolve = (name: string, chain: string[]): Json => {
    const cached = done.get(name);
    if (cached) return cached;
    const own = jobs.get(name)!;
    const ext = own['extends'];
    const parents = typeof ext === 'string' ? [ext] : Array.isArray(ext) ? ext.filter((p): p is string => typeof p === 'string') : [];
    let merged: unknown = {};
    for (const parent of parents) {
      const src = originOf(chain[0]!);
      const before = problems.length;
      if (chain.includes(parent)) {
        broken.add(name);
        problems.push(problemAt(src, [chain[0]!, 'extends'], `extends cycle: ${[...chain, parent].join(' → ')}`));
        continue;
      }
      if (chain.length >= MAX_EXTENDS_DEPTH) {
        problems.push(problemAt(src, [chain[0]!, 'extends'], `extends nests deeper than ${MAX_EXTENDS_DEPTH} levels (${[...chain, parent].join(' → ')})`));
        continue;
      }
      if (!jobs.has(parent)) {
        broken.add(name);
        const hint = didYouMean(parent, names);
        problems.push(
          problemAt(originOf(name), [name, 'extends'], `job '${name}' extends '${parent}', which is not defined${hint ? ` — did you mean '${hint}'?` : ''}`),
        );
        continue;
      }
      merged = deepMerge(merged, resolve(parent, [...chain, parent]));
      if (broken.has(parent)) broken.add(name);
      if (problems.length > before) broken.add(name);
    }
    const { extends: _drop, ...rest } = own;
    const result = deepMerge(merged, rest) as Json;
    // Cached whatever the chain: the merged result does not depend on it, and without the cache a
    // fan-out of parents at every level would make the work exponential. A cycle is reported the
    // first time it is walked.
    done.set(name, result);
    return result;
  };

  const out = new Map<string, Json>();
  for (const name of names) {
    const job = jobs.get(name)!;
    out.set(name, isPlainObject(job) && job['extends'] !== undefined ? resolve(name, [name]) : job);
  }
  return { jobs: out, problems: dedupe(problems), broken };
}

function dedupe(problems: PipelineProblem[]): PipelineProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.file}:${p.line}:${p.column}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
