import { evaluate, parseExpression, type Expr, type Vars } from '../patterns/expression.js';
import { anyMatch, compileGlob } from '../patterns/glob.js';
import { varsToStrings } from './pipeline-file.js';
import type { RuleSpec } from './schema.js';
import type { SafeRegex } from '../patterns/regex.js';

/** When a planned job runs once its needs are settled (`when: never` means it is not planned). */
export type JobWhen = 'on_success' | 'on_failure' | 'manual' | 'always';

/** What rules see besides variables. undefined = not known for this event (see `changes`). */
export interface RuleInputs {
  /** Files changed by this event (`git diff --name-only before after`); undefined: no usable base. */
  changedFiles: readonly string[] | undefined;
  /** Files in the repository at the commit; undefined: not listed. */
  repoFiles: readonly string[] | undefined;
}

export type RuleOutcome = { run: true; when: JobWhen; allowFailure: boolean | undefined; variables: Record<string, string> } | { run: false; reason: string };

// Compiled once per process: a file's rules are parsed by compile already, this only avoids
// redoing it for every event.
const exprCache = new Map<string, Expr>();
const globCache = new Map<string, SafeRegex>();
const CACHE_LIMIT = 5000;

function memo<T>(cache: Map<string, T>, src: string, make: (src: string) => T): T {
  let v = cache.get(src);
  if (v === undefined) {
    v = make(src);
    if (cache.size > CACHE_LIMIT) cache.clear();
    cache.set(src, v);
  }
  return v;
}

/** Parsed once per process per text (throws ExpressionError like parseExpression). */
export function expr(src: string): Expr {
  return memo(exprCache, src, parseExpression);
}

export function glob(src: string): SafeRegex {
  return memo(globCache, src, compileGlob);
}

/** The first clause of a rule that does not hold, described for people; null when all hold. */
function failingClause(rule: RuleSpec, vars: Vars, inputs: RuleInputs): string | null {
  if (rule.if !== undefined && !evaluate(expr(rule.if), vars)) return `if ${rule.if} is false`;
  const changes = Array.isArray(rule.changes) ? rule.changes : rule.changes?.paths;
  // GitLab's rule: with no base to diff against (new branch, tag, manual run), changes is true.
  if (changes && inputs.changedFiles !== undefined && !anyMatch(changes.map(glob), inputs.changedFiles)) {
    return `changes [${changes.join(', ')}] matched none of the ${inputs.changedFiles.length} changed files`;
  }
  if (rule.exists && inputs.repoFiles !== undefined && !anyMatch(rule.exists.map(glob), inputs.repoFiles)) {
    return `exists [${rule.exists.join(', ')}] matched no file in the repository`;
  }
  return null;
}

function describeRule(rule: RuleSpec): string {
  const parts: string[] = [];
  if (rule.if !== undefined) parts.push(`if ${rule.if}`);
  const changes = Array.isArray(rule.changes) ? rule.changes : rule.changes?.paths;
  if (changes) parts.push(`changes [${changes.join(', ')}]`);
  if (rule.exists) parts.push(`exists [${rule.exists.join(', ')}]`);
  return parts.length > 0 ? parts.join(', ') : '(no condition)';
}

/**
 * GitLab's semantics: no rules → the job's own `when`; rules → the first rule whose clauses all
 * hold decides (`when: never` leaves the job out); no rule matching leaves it out.
 */
export function evaluateRules(rules: readonly RuleSpec[] | undefined, jobWhen: JobWhen | 'never' | undefined, vars: Vars, inputs: RuleInputs): RuleOutcome {
  if (rules === undefined) {
    if (jobWhen === 'never') return { run: false, reason: 'when: never' };
    return { run: true, when: jobWhen ?? 'on_success', allowFailure: undefined, variables: {} };
  }
  const misses: string[] = [];
  for (const [i, rule] of rules.entries()) {
    const miss = failingClause(rule, vars, inputs);
    if (miss !== null) {
      misses.push(`rules[${i}]: ${miss}`);
      continue;
    }
    const when = rule.when ?? (jobWhen === 'never' ? 'on_success' : jobWhen) ?? 'on_success';
    if (when === 'never') return { run: false, reason: `rules[${i}] (${describeRule(rule)}) says when: never` };
    return { run: true, when, allowFailure: rule.allow_failure, variables: varsToStrings(rule.variables) };
  }
  if (rules.length === 0) return { run: false, reason: 'rules is empty: no rule can match' };
  return { run: false, reason: `no rule matched (${misses.join('; ')})` };
}
