import type { PipelineProblem } from './errors.js';
import { isPlainObject } from './merge.js';
import { RESERVED_KEYS } from './schema.js';
import { problemAt, type SourceFile } from './yaml-source.js';
import { describe } from './zod-problems.js';

/**
 * Settings the schema accepts but the runtime does not act on yet. The validator rejects each one
 * where it is written (file, line, column), so a pipeline never looks as if it did something it
 * does not. When a feature lands, delete its entry here (and its scenario's expected problem) and
 * regenerate pipelines/schema.json, whose descriptions are made from this list (json-schema.ts).
 *
 * `path`: keys separated by '.'; '*' is any one key or list index; '<job>' is any job (a top-level
 * key that is not a block, hidden templates included). `value`: only values that pass `test`, named
 * `name` in the message (default: the key itself, whatever its value). `why`: what Slipway does
 * instead, after "is not supported yet: ". A problem points at the value when `value` is given,
 * else at the key.
 */
export interface NotYet {
  path: string | readonly string[];
  value?: { test: (v: unknown) => boolean; name: string };
  why: string;
}

const ENV = 'deploy.environments.*';
const RULES = ['<job>.rules.*', 'build.rules.*', 'sonar.rules.*', `${ENV}.rules.*`];

export const NOT_YET: readonly NotYet[] = [
  {
    path: `${ENV}.resource_group`,
    why: "a deploy holds its environment's lock instead (one deploy per service and environment at a time)",
  },
  {
    path: RULES.map((r) => `${r}.changes.compare_to`),
    why: 'a push compares with its previous commit (before), a merge request with the merge base with its target branch, a merge with its first parent; remove compare_to',
  },
  {
    path: '<job>.artifacts.name',
    why: 'artifacts cannot be downloaded, so they have no archive name; remove name',
  },
];

const PATTERNS = NOT_YET.map((entry) => ({ entry, patterns: (typeof entry.path === 'string' ? [entry.path] : entry.path).map((p) => p.split('.')) }));
const MAX_DEPTH = Math.max(...PATTERNS.flatMap((p) => p.patterns.map((s) => s.length)));
const BLOCKS: ReadonlySet<string> = new Set(RESERVED_KEYS);

function matches(pattern: readonly string[], path: readonly PropertyKey[]): boolean {
  if (pattern.length !== path.length) return false;
  return pattern.every((seg, i) => {
    const key = String(path[i]);
    if (seg === '*') return true;
    if (seg === '<job>') return i === 0 && !BLOCKS.has(key);
    return seg === key;
  });
}

function has(data: unknown, path: readonly PropertyKey[]): boolean {
  let v: unknown = data;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number' && seg < v.length) v = v[seg];
    else if (isPlainObject(v) && typeof seg === 'string' && Object.hasOwn(v, seg)) v = v[seg];
    else return false;
  }
  return true;
}

/**
 * Every NOT_YET setting in the merged pipeline data, placed in the last file that writes it (the
 * one whose value won the merge). `sources` in merge order: included files first, the root last.
 */
export function notYetProblems(data: Record<string, unknown>, sources: readonly SourceFile[]): PipelineProblem[] {
  const problems: PipelineProblem[] = [];
  const report = (path: PropertyKey[], value: unknown) => {
    for (const { entry, patterns } of PATTERNS) {
      if (!patterns.some((p) => matches(p, path))) continue;
      if (entry.value && !entry.value.test(value)) continue;
      const src = [...sources].reverse().find((s) => has(s.data, path)) ?? sources[sources.length - 1];
      if (!src) continue;
      problems.push(
        entry.value
          ? problemAt(src, path, `${describe(path)}: ${entry.value.name} is not supported yet: ${entry.why}`)
          : problemAt(src, path.slice(0, -1), `${describe(path)} is not supported yet: ${entry.why}`, String(path[path.length - 1])),
      );
    }
  };
  const visit = (value: unknown, path: PropertyKey[]) => {
    report(path, value);
    if (path.length >= MAX_DEPTH) return;
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) visit(v, [...path, i]);
    } else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
  };
  for (const [key, value] of Object.entries(data)) visit(value, [key]);
  return problems;
}
