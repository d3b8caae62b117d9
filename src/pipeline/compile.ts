import type { PipelineProblem } from './errors.js';
import { resolveExtends } from './extends.js';
import { resolveIncludes, type IncludeReader } from './include.js';
import { deepMerge, isPlainObject, type Json } from './merge.js';
import { checkSemantics } from './semantics.js';
import { defaultSchema, jobSchema, RESERVED_KEYS, topSchema, type JobSpec } from './schema.js';
import { DEFAULT_STAGES, varsToStrings, type PipelineFile } from './pipeline-file.js';
import { didYouMean } from './did-you-mean.js';
import { notYetProblems } from './not-yet.js';
import { loadYaml, problemAt, type SourceFile } from './yaml-source.js';
import { zodProblems } from './zod-problems.js';

export type CompileResult = { ok: true; file: PipelineFile } | { ok: false; problems: PipelineProblem[] };

const MAX_JOBS = 500;
const DEFAULTABLE = ['image', 'before_script', 'timeout', 'retry', 'interruptible'] as const;

/** Read, include, extend, validate. Pure apart from the reader; every problem at once. */
export async function compilePipeline(text: string, opts: { fileName?: string; reader: IncludeReader }): Promise<CompileResult> {
  const loaded = loadYaml(text, opts.fileName ?? '.slipway.yml');
  if (!loaded.ok) return loaded;
  const included = await resolveIncludes(loaded.source, opts.reader);
  if (included.problems.length > 0) return { ok: false, problems: sortProblems(included.problems) };
  return compileSources(loaded.source, included.sources);
}

/** The synchronous core: merge the already-read files (included first, root last) and validate. */
export function compileSources(root: SourceFile, included: readonly SourceFile[]): CompileResult {
  const problems: PipelineProblem[] = [];
  const origin = new Map<string, SourceFile>();
  let data: Json = {};
  for (const src of [...included, root]) {
    for (const key of Object.keys(src.data)) origin.set(key, src);
    data = deepMerge(data, src.data) as Json;
  }
  const originOf = (key: string) => origin.get(key) ?? root;

  // Reserved blocks, each validated against its own file for positions. `include` is checked per file.
  for (const src of [...included, root]) {
    if (src.data['include'] !== undefined) {
      const r = topSchema.shape.include.safeParse(src.data['include']);
      if (!r.success) problems.push(...zodProblems(r.error.issues, ['include'], src.data, src));
    }
  }
  const top: Record<string, unknown> = {};
  for (const key of RESERVED_KEYS) {
    if (key === 'include' || data[key] === undefined) continue;
    const r = topSchema.shape[key].safeParse(data[key]);
    if (r.success) top[key] = r.data;
    else problems.push(...zodProblems(r.error.issues, [key], data, originOf(key)));
  }

  const rawJobs = new Map<string, Json>();
  for (const [name, value] of Object.entries(data)) {
    if ((RESERVED_KEYS as readonly string[]).includes(name)) continue;
    if (!isPlainObject(value)) {
      const hint = didYouMean(name, RESERVED_KEYS);
      problems.push(problemAt(originOf(name), [name], `job '${name}' must be a mapping with image and script${hint ? ` (or did you mean '${hint}'?)` : ''}`));
      continue;
    }
    rawJobs.set(name, value);
  }
  if (rawJobs.size > MAX_JOBS) {
    return { ok: false, problems: [problemAt(root, [], `more than ${MAX_JOBS} jobs`)] };
  }
  const extended = resolveExtends(rawJobs, originOf);
  problems.push(...extended.problems);

  const defaults = defaultSchema.safeParse(data['default'] ?? {});
  const jobs: Array<{ name: string; spec: JobSpec }> = [];
  // Invalid jobs whose stage and needs still read well: checked across keys too, so a typo
  // elsewhere in the job does not hide a wrong `needs` until the next push.
  const salvaged: Array<{ name: string; spec: JobSpec }> = [];
  for (const [name, raw] of extended.jobs) {
    if (name.startsWith('.')) continue; // hidden: a template for extends, never run
    const withDefaults: Json = { ...raw };
    if (defaults.success) {
      for (const k of DEFAULTABLE) if (withDefaults[k] === undefined && defaults.data[k] !== undefined) withDefaults[k] = defaults.data[k];
    }
    // Required here rather than in the schema: `extends` and `default` may supply them (a job
    // whose extends failed already has its problem).
    for (const k of ['image', 'script'] as const) {
      if (withDefaults[k] === undefined && !extended.broken.has(name))
        problems.push(problemAt(originOf(name), [name, k], `job '${name}': missing required key '${k}'`));
    }
    const r = jobSchema.safeParse(withDefaults);
    if (!r.success) {
      problems.push(...zodProblems(r.error.issues, [name], { [name]: withDefaults }, originOf(name)));
      const partial = salvage(withDefaults);
      if (partial) salvaged.push({ name, spec: partial });
    } else jobs.push({ name, spec: r.data });
  }
  const typed = top as ReturnType<typeof topSchema.parse>;
  const file: PipelineFile = {
    stages: typed.stages ?? DEFAULT_STAGES,
    variables: varsToStrings(typed.variables),
    jobs,
    build: typed.build,
    sonar: typed.sonar,
    deploy: typed.deploy,
    includes: included.map((s) => s.name),
  };
  // Cross-key checks run even when some jobs failed validation, so every problem shows at once;
  // names of invalid jobs still count as jobs for `needs`.
  const allNames = [...extended.jobs.keys()].filter((n) => !n.startsWith('.'));
  problems.push(...checkSemantics(file, originOf, allNames));
  problems.push(...notYetProblems(data, [...included, root]));
  if (salvaged.length > 0) {
    const crossOnly = checkSemantics({ ...file, jobs: [...file.jobs, ...salvaged] }, originOf, allNames);
    const seen = new Set(problems.map((p) => `${p.file}:${p.line}:${p.column}:${p.message}`));
    problems.push(...crossOnly.filter((p) => !seen.has(`${p.file}:${p.line}:${p.column}:${p.message}`)));
  }
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems) };
  return { ok: true, file };
}

function sortProblems(problems: PipelineProblem[]): PipelineProblem[] {
  return [...problems].sort((a, b) => (a.file === b.file ? 0 : a.file < b.file ? -1 : 1) || a.line - b.line || a.column - b.column);
}

/** The parts of an invalid job that cross-key checks read (stage, needs), when they are well-formed. */
function salvage(raw: Json): JobSpec | undefined {
  if (!isPlainObject(raw)) return undefined;
  const stage = typeof raw['stage'] === 'string' ? raw['stage'] : undefined;
  const needs = Array.isArray(raw['needs']) && raw['needs'].every((n) => typeof n === 'string') ? (raw['needs'] as string[]) : undefined;
  if (stage === undefined && needs === undefined) return undefined;
  return { ...(stage !== undefined ? { stage } : {}), ...(needs !== undefined ? { needs } : {}) } as JobSpec;
}
