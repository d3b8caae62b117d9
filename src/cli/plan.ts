import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { compilePipeline, type CompileResult } from '../pipeline/compile.js';
import { formatProblem, type PipelineProblem } from '../pipeline/errors.js';
import type { IncludeReader } from '../pipeline/include.js';
import { describePlan } from '../planning/describe-plan.js';
import { planPipeline } from '../planning/plan.js';
import type { PlanEvent, PlanRequest } from '../planning/predefined-variables.js';

type Out = (line: string) => void;

/** Local includes from the working tree next to the file; project includes cannot be read offline. */
function fsReader(root: string, warn: Out, notChecked: string[]): IncludeReader {
  return {
    local: (p) => {
      const full = path.resolve(root, p.replace(/^\/+/, ''));
      if (!full.startsWith(path.resolve(root) + path.sep) || !existsSync(full)) return Promise.resolve(null);
      return Promise.resolve(readFileSync(full, 'utf8'));
    },
    project: (project, ref, p) => {
      const name = `${project}:${p}${ref ? `@${ref}` : ''}`;
      notChecked.push(name);
      warn(`not checked offline: include ${name}`);
      return Promise.resolve('{}');
    },
  };
}

async function compileFile(file: string, err: Out, notChecked: string[]): Promise<CompileResult | null> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`slipway: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
  return compilePipeline(text, { fileName: file, reader: fsReader(path.dirname(path.resolve(file)), err, notChecked) });
}

/** What `slipway validate --json` prints: the same facts as the text, one object, exit code unchanged. */
export interface ValidateReport {
  file: string;
  valid: boolean;
  /** Every problem, as `file:line:col: message` prints it in text mode; empty when valid. */
  problems: PipelineProblem[];
  /** Job names in file order (included files first); empty when invalid. */
  jobs: string[];
  /** Files merged into this one; empty when invalid. */
  includes: string[];
  /** Project includes that cannot be read offline (`project:file@ref`). */
  notChecked: string[];
}

/** `slipway validate [file]`: exit 0 valid, 1 invalid (problems on stderr, or in the JSON), 2 unreadable. Fit for a pre-commit hook. */
export async function validateCommand(file: string, opts: { json: boolean }, out: Out, err: Out): Promise<number> {
  const notChecked: string[] = [];
  const result = await compileFile(file, err, notChecked);
  if (!result) return 2;
  if (opts.json) {
    const report: ValidateReport = result.ok
      ? { file, valid: true, problems: [], jobs: result.file.jobs.map((j) => j.name), includes: result.file.includes, notChecked }
      : { file, valid: false, problems: result.problems, jobs: [], includes: [], notChecked };
    out(JSON.stringify(report, null, 2));
    return result.ok ? 0 : 1;
  }
  if (!result.ok) {
    for (const p of result.problems) err(formatProblem(p));
    err(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
    return 1;
  }
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  out(
    `${file}: valid (${count(result.file.jobs.length, 'job')}${result.file.includes.length > 0 ? `, ${count(result.file.includes.length, 'included file')}` : ''})`,
  );
  return 0;
}

export const PLAN_EVENTS = ['merge', 'mr', 'push', 'tag', 'manual'] as const satisfies readonly PlanEvent[];

export interface PlanOptions {
  event: (typeof PLAN_EVENTS)[number];
  ref?: string | undefined;
  target?: string | undefined;
  /** Undefined when no --changed was given: the diff is unknown, which is not the same as an empty one. */
  changed?: string[] | undefined;
  var?: Record<string, string> | undefined;
  json?: boolean | undefined;
}

/** `slipway plan`: which jobs would run for an event, in order, and why each other job is skipped. */
export async function planCommand(file: string, opts: PlanOptions, out: Out, err: Out): Promise<number> {
  const result = await compileFile(file, err, []);
  if (!result) return 2;
  if (!result.ok) {
    // The same shape as POST /api/plan's 422 answer, so a script reads one or the other alike.
    if (opts.json) out(JSON.stringify({ problems: result.problems }, null, 2));
    else for (const p of result.problems) err(formatProblem(p));
    return 1;
  }
  const plan = planPipeline(result.file, localRequest(opts.event, opts.ref, opts.target), {
    changedFiles: opts.changed,
    variables: opts.var ?? {},
  });
  if (opts.json) out(JSON.stringify(plan, null, 2));
  else for (const line of describePlan(plan)) out(line);
  return 0;
}
function localRequest(event: PlanEvent, ref: string | undefined, target: string | undefined): PlanRequest {
  const branch = ref ?? (event === 'tag' ? 'v0.0.0' : event === 'mr' ? 'feature' : 'main');
  return {
    kind: event === 'merge' || event === 'manual' ? 'full' : event === 'tag' ? 'release' : 'ci',
    event,
    project: { id: 0, path: path.basename(process.cwd()), defaultBranch: 'main', webUrl: undefined },
    sha: '0'.repeat(40),
    ref: event === 'merge' ? (target ?? 'main') : branch,
    before: undefined,
    mergeRequest:
      event === 'mr' || event === 'merge' ? { iid: 1, title: 'local plan', sourceBranch: branch, targetBranch: target ?? 'main', fork: false } : undefined,
    actor: undefined,
  };
}
