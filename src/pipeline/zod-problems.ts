import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import type { PipelineProblem } from './errors.js';
import { buildSchema, defaultSchema, deploySchema, environmentSchema, jobSchema, ruleSchema, sonarSchema } from './schema.js';
import { problemAt, type SourceFile } from './yaml-source.js';

const KEYS = {
  job: Object.keys(jobSchema.shape),
  build: Object.keys(buildSchema.shape),
  sonar: Object.keys(sonarSchema.shape),
  deploy: Object.keys(deploySchema.shape),
  environment: Object.keys(environmentSchema.shape),
  default: Object.keys(defaultSchema.shape),
  rule: Object.keys(ruleSchema.shape),
};

function knownKeysFor(path: readonly PropertyKey[]): readonly string[] {
  if (path.includes('rules')) return KEYS.rule;
  if (path[0] === 'build') return KEYS.build;
  if (path[0] === 'sonar') return KEYS.sonar;
  if (path[0] === 'default') return KEYS.default;
  if (path[0] === 'deploy') return path.length >= 3 ? KEYS.environment : KEYS.deploy;
  return KEYS.job;
}

const BLOCKS = new Set(['build', 'deploy', 'sonar', 'stages', 'variables', 'default', 'include']);

export function describe(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'the pipeline';
  if (BLOCKS.has(String(path[0]))) return `'${path.map(String).join('.')}'`;
  return `job '${String(path[0])}'${path.length > 1 ? ` key '${path.slice(1).map(String).join('.')}'` : ''}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** zod issues → problems with positions and did-you-mean hints. */
export function zodProblems(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[], root: unknown, src: SourceFile): PipelineProblem[] {
  const out: PipelineProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = didYouMean(key, knownKeysFor(path));
        out.push(problemAt(src, path, `unknown key '${key}' in ${describe(path)}${hint ? ` — did you mean '${hint}'?` : ''}`, key));
      }
      continue;
    }
    const missing = valueAt(root, path) === undefined;
    out.push(
      problemAt(
        src,
        path,
        missing ? `${describe(path.slice(0, -1))}: missing required key '${String(path[path.length - 1])}'` : `${describe(path)}: ${issue.message}`,
      ),
    );
  }
  return out;
}
