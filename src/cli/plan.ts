import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compilePipeline, type CompileResult } from '../pipeline/compile.js';
import { formatProblem } from '../pipeline/errors.js';
import type { IncludeReader } from '../pipeline/include.js';
import { describePlan } from '../pipeline/describe-plan.js';
import { planPipeline } from '../pipeline/plan.js';
import type { PlanEvent, PlanRequest } from '../pipeline/predefined-variables.js';

type Out = (line: string) => void;

/** Local includes from the working tree next to the file; project includes cannot be read offline. */
function fsReader(root: string, warn: Out): IncludeReader {
  return {
    local: (p) => {
      const full = path.resolve(root, p.replace(/^\/+/, ''));
      if (!full.startsWith(path.resolve(root) + path.sep) || !existsSync(full)) return Promise.resolve(null);
      return Promise.resolve(readFileSync(full, 'utf8'));
    },
    project: (project, ref, p) => {
      warn(`not checked offline: include ${project}:${p}${ref ? `@${ref}` : ''}`);
      return Promise.resolve('{}');
    },
  };
}

async function compileFile(file: string, err: Out): Promise<CompileResult | null> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`slipway: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
  return compilePipeline(text, { fileName: file, reader: fsReader(path.dirname(path.resolve(file)), err) });
}

/** `slipway validate [file]`: exit 0 valid, 1 invalid (problems on stderr), 2 unreadable. Fit for a pre-commit hook. */
export async function validateCommand(args: string[], out: Out, err: Out): Promise<number> {
  const file = args[0] ?? '.slipway.yml';
  const result = await compileFile(file, err);
  if (!result) return 2;
  if (!result.ok) {
    for (const p of result.problems) err(formatProblem(p));
    err(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
    return 1;
  }
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  out(`${file}: valid (${count(result.file.jobs.length, 'job')}${result.file.includes.length > 0 ? `, ${count(result.file.includes.length, 'included file')}` : ''})`);
  return 0;
}

export const PLAN_USAGE = `usage: slipway plan [file] [--event merge|mr|push|tag|manual] [--ref NAME] [--target BRANCH]
                   [--changed PATH]... [--var NAME=VALUE]... [--json]`;

/** `slipway plan`: which jobs would run for an event, in order, and why each other job is skipped. */
export async function planCommand(args: string[], out: Out, err: Out): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        event: { type: 'string', default: 'merge' },
        ref: { type: 'string' },
        target: { type: 'string' },
        changed: { type: 'string', multiple: true },
        var: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    err(`slipway: ${e instanceof Error ? e.message : String(e)}\n${PLAN_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const event = values.event as PlanEvent;
  if (!['merge', 'mr', 'push', 'tag', 'manual'].includes(event)) {
    err(`slipway: --event must be merge, mr, push, tag or manual\n${PLAN_USAGE}`);
    return 2;
  }
  const file = positionals[0] ?? '.slipway.yml';
  const result = await compileFile(file, err);
  if (!result) return 2;
  if (!result.ok) {
    for (const p of result.problems) err(formatProblem(p));
    return 1;
  }
  const variables: Record<string, string> = {};
  for (const v of values.var ?? []) {
    const eq = v.indexOf('=');
    if (eq > 0) variables[v.slice(0, eq)] = v.slice(eq + 1);
  }
  const plan = planPipeline(result.file, localRequest(event, values.ref, values.target), {
    changedFiles: values.changed,
    variables,
  });
  if (values.json) out(JSON.stringify(plan, null, 2));
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
    mergeRequest: event === 'mr' || event === 'merge' ? { iid: 1, title: 'local plan', sourceBranch: branch, targetBranch: target ?? 'main', fork: false } : undefined,
    actor: undefined,
  };
}
