import type { PipelineProblem } from './errors.js';
import { isPlainObject } from './merge.js';
import { readBuiltinTemplate } from './templates.js';
import { loadYaml, problemAt, type SourceFile } from './yaml-source.js';

export const MAX_INCLUDE_DEPTH = 5;
export const MAX_INCLUDES = 50;

/**
 * Where included files come from. Both return null for a missing file and throw for anything
 * else (GitLab unreachable): a missing include is the user's problem, an outage is not.
 */
export interface IncludeReader {
  /** A file of the pipeline's own repository at the pipeline's commit. */
  local(path: string): Promise<string | null>;
  /** A file of another project at a ref; ref undefined = its default branch. */
  project(projectPath: string, ref: string | undefined, path: string): Promise<string | null>;
}

/** Reads nothing: for checks of a single file (local and project includes are reported). */
export const NO_INCLUDES: IncludeReader = {
  local: () => Promise.resolve(null),
  project: () => Promise.resolve(null),
};

type Origin = { kind: 'self' } | { kind: 'project'; project: string; ref: string | undefined } | { kind: 'template' };
type Target = { id: string; label: string; read: () => Promise<string | null>; origin: Origin };

function targetsOf(item: unknown, from: Origin, reader: IncludeReader): Target[] | string {
  const local = (path: string): Target => {
    const clean = path.replace(/^\/+/, '');
    if (from.kind === 'project') {
      return {
        id: `project:${from.project}@${from.ref ?? ''}:${clean}`,
        label: `${from.project}:${clean}`,
        origin: from,
        read: () => reader.project(from.project, from.ref, clean),
      };
    }
    if (from.kind === 'template') return { id: `template-local:${clean}`, label: clean, origin: from, read: () => Promise.resolve(null) };
    return { id: `local:${clean}`, label: clean, origin: from, read: () => reader.local(clean) };
  };
  if (typeof item === 'string') return [local(item)];
  if (!isPlainObject(item)) return 'an include is a path, { local }, { template } or { project, ref, file }';
  if (typeof item['local'] === 'string') return [local(item['local'])];
  if (typeof item['template'] === 'string') {
    const name = item['template'];
    return [{ id: `template:${name}`, label: `template ${name}`, origin: { kind: 'template' }, read: () => Promise.resolve(readBuiltinTemplate(name)) }];
  }
  const project = item['project'];
  const ref = typeof item['ref'] === 'string' ? item['ref'] : undefined;
  const files = typeof item['file'] === 'string' ? [item['file']] : Array.isArray(item['file']) ? item['file'] : [];
  if (typeof project !== 'string' || files.length === 0 || !files.every((f): f is string => typeof f === 'string')) {
    return 'a project include needs project and file';
  }
  return files.map((f) => {
    const clean = f.replace(/^\/+/, '');
    const origin: Origin = { kind: 'project', project, ref };
    return { id: `project:${project}@${ref ?? ''}:${clean}`, label: `${project}:${clean}`, origin, read: () => reader.project(project, ref, clean) };
  });
}

export interface Included {
  /** In merge order: earlier files first; the including file overrides them. */
  sources: SourceFile[];
  problems: PipelineProblem[];
}

/**
 * Fetch every file `root` includes, depth-first, bounded in depth and count. A file included
 * twice is merged once (the first time), so diamonds work and cycles stop.
 */
export async function resolveIncludes(root: SourceFile, reader: IncludeReader): Promise<Included> {
  const sources: SourceFile[] = [];
  const problems: PipelineProblem[] = [];
  const seen = new Set<string>();
  let count = 0;
  const visit = async (src: SourceFile, origin: Origin, depth: number, chain: string[]): Promise<void> => {
    const raw = src.data['include'];
    if (raw === undefined) return;
    const items = Array.isArray(raw) ? raw : [raw];
    for (const [i, item] of items.entries()) {
      const path = Array.isArray(raw) ? ['include', i] : ['include'];
      const targets = targetsOf(item, origin, reader);
      if (typeof targets === 'string') continue; // the schema reports the shape
      for (const t of targets) {
        if (chain.includes(t.id)) {
          problems.push(problemAt(src, path, `include cycle: ${[...chain, t.id].map((c) => c.replace(/^\w+(-local)?:/, '')).join(' → ')}`));
          continue;
        }
        if (seen.has(t.id)) continue;
        seen.add(t.id);
        if (depth >= MAX_INCLUDE_DEPTH) {
          problems.push(problemAt(src, path, `includes nest deeper than ${MAX_INCLUDE_DEPTH} levels at ${t.label}`));
          continue;
        }
        if (++count > MAX_INCLUDES) {
          problems.push(problemAt(src, path, `more than ${MAX_INCLUDES} included files`));
          return;
        }
        let text: string | null;
        try {
          text = await t.read();
        } catch (err) {
          problems.push(problemAt(src, path, `cannot read include ${t.label}: ${err instanceof Error ? err.message : String(err)}`));
          continue;
        }
        if (text === null) {
          const why =
            origin.kind === 'template' && t.origin.kind === 'template' && !t.id.startsWith('template:')
              ? ' (built-in templates include only other templates)'
              : '';
          problems.push(problemAt(src, path, `included file ${t.label} not found${why}`));
          continue;
        }
        const loaded = loadYaml(text, t.label);
        if (!loaded.ok) {
          problems.push(...loaded.problems);
          continue;
        }
        await visit(loaded.source, t.origin, depth + 1, [...chain, t.id]);
        sources.push(loaded.source);
      }
    }
  };
  await visit(root, { kind: 'self' }, 0, [`local:${root.name}`]);
  return { sources, problems };
}
