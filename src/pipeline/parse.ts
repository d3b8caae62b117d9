import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import type { PipelineProblem } from './errors.js';
import { positionOf } from './positions.js';
import { buildSchema, deploySchema, environmentSchema, jobSchema, RESERVED_KEYS, topSchema, type JobSpec, type PipelineFile } from './schema.js';

export const MAX_FILE_BYTES = 1024 * 1024;
const MAX_ALIAS_COUNT = 100;
const DEFAULT_STAGES = ['test', 'build', 'deploy'];

export type ParseResult = { ok: true; file: PipelineFile } | { ok: false; problems: PipelineProblem[] };

const KNOWN_KEYS: Record<string, readonly string[]> = {
  top: [...RESERVED_KEYS],
  job: Object.keys(jobSchema.shape),
  build: Object.keys(buildSchema.shape),
  deploy: Object.keys(deploySchema.shape),
  environment: Object.keys(environmentSchema.shape),
};

function knownKeysFor(path: readonly PropertyKey[]): readonly string[] {
  if (path[0] === 'build') return KNOWN_KEYS['build']!;
  if (path[0] === 'deploy') return path.length >= 3 ? KNOWN_KEYS['environment']! : KNOWN_KEYS['deploy']!;
  return KNOWN_KEYS['job']!;
}

function describe(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'the pipeline';
  if (path[0] === 'build' || path[0] === 'deploy' || path[0] === 'stages' || path[0] === 'variables') return `'${path.map(String).join('.')}'`;
  return `job '${String(path[0])}'${path.length > 1 ? ` key '${path.slice(1).map(String).join('.')}'` : ''}`;
}

/** Parse and validate `.slipway.yml` text. Pure; never throws on any input; every problem at once. */
export function parsePipelineFile(text: string, fileName = '.slipway.yml'): ParseResult {
  const at = (line: number, column: number, message: string): PipelineProblem => ({ file: fileName, line, column, message });
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    return { ok: false, problems: [at(1, 1, `file is larger than ${MAX_FILE_BYTES} bytes`)] };
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, strict: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return at(pos.line, pos.col, e.message.split('\n')[0] ?? e.message);
      }),
    };
  }
  if (!isMap(doc.contents)) {
    return { ok: false, problems: [at(1, 1, 'the pipeline file must be a mapping of jobs and settings')] };
  }
  const problems: PipelineProblem[] = [];
  for (const pair of doc.contents.items) {
    if (!isScalar(pair.key) || typeof pair.key.value !== 'string') {
      const pos = positionOf(doc, [], lc);
      problems.push(at(pos.line, pos.column, 'keys must be plain strings'));
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  let data: unknown;
  try {
    // maxAliasCount stops "billion laughs" documents before they expand.
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    return { ok: false, problems: [at(1, 1, `cannot expand the document: ${err instanceof Error ? err.message : String(err)}`)] };
  }
  const root = data as Record<string, unknown>;

  const report = (issues: z.core.$ZodIssue[], prefix: PropertyKey[]) => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const pos = positionOf(doc, path, lc, key);
          const hint = didYouMean(key, knownKeysFor(path));
          problems.push(at(pos.line, pos.column, `unknown key '${key}' in ${describe(path)}${hint ? ` — did you mean '${hint}'?` : ''}`));
        }
        continue;
      }
      const pos = positionOf(doc, path, lc);
      const missing = valueAt(root, path) === undefined;
      problems.push(at(pos.line, pos.column, missing
        ? `${describe(path.slice(0, -1))}: missing required key '${String(path[path.length - 1])}'`
        : `${describe(path)}: ${issue.message}`));
    }
  };

  const top = topSchema.safeParse(root);
  if (!top.success) report(top.error.issues, []);

  const jobs: Array<{ name: string; spec: JobSpec }> = [];
  for (const [name, value] of Object.entries(root)) {
    if ((RESERVED_KEYS as readonly string[]).includes(name)) continue;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      const pos = positionOf(doc, [name], lc);
      const hint = didYouMean(name, RESERVED_KEYS);
      problems.push(at(pos.line, pos.column, `job '${name}' must be a mapping with image and script${hint ? ` (or did you mean '${hint}'?)` : ''}`));
      continue;
    }
    const job = jobSchema.safeParse(value);
    if (!job.success) report(job.error.issues, [name]);
    else jobs.push({ name, spec: job.data });
  }
  if (!top.success || problems.length > 0) return { ok: false, problems: byPosition(problems) };

  const stages = top.data.stages ?? DEFAULT_STAGES;
  for (const { name, spec } of jobs) {
    if (spec.stage !== undefined && !stages.includes(spec.stage)) {
      const pos = positionOf(doc, [name, 'stage'], lc);
      problems.push(at(pos.line, pos.column, `job '${name}': stage '${spec.stage}' is not in stages (${stages.join(', ')})`));
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  const variables = Object.fromEntries(Object.entries(top.data.variables ?? {}).map(([k, v]) => [k, String(v)]));
  return { ok: true, file: { stages, variables, jobs, build: top.data.build, deploy: top.data.deploy } };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function byPosition(problems: PipelineProblem[]): PipelineProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column);
}
