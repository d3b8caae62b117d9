import { posix } from 'node:path';
import { parseDockerignore, type IgnoreRules } from '../images/dockerignore.js';
import type { TreeEntry } from './git-tree.js';

/**
 * The entries the engine asked for. BuildKit's Dockerfile frontend reads `.dockerignore` itself and
 * sends its patterns as `exclude-patterns` (with `!` exceptions), and asks for single files with
 * `include-patterns` (the Dockerfile, `.dockerignore`). As fsutil's walker does, a directory is sent
 * when it is included itself or holds something included, so every entry's parent is sent first.
 */
export function selectEntries(entries: readonly TreeEntry[], opts: { include?: readonly string[]; exclude?: readonly string[] }): TreeEntry[] {
  const include = opts.include && opts.include.length > 0 ? parseDockerignore(opts.include.join('\n')) : undefined;
  const exclude = opts.exclude && opts.exclude.length > 0 ? parseDockerignore(opts.exclude.join('\n')) : undefined;
  if (!include && (!exclude || exclude.length === 0)) return [...entries];
  const keep = new Set<string>();
  for (const e of entries) {
    if (!wanted(e.path, include, exclude)) continue;
    keep.add(e.path);
    // Parents of a kept entry are needed even when the directory itself matched no include rule.
    for (let i = e.path.lastIndexOf('/'); i > 0; i = e.path.lastIndexOf('/', i - 1)) keep.add(e.path.slice(0, i));
  }
  return entries.filter((e) => keep.has(e.path));
}

function wanted(path: string, include: IgnoreRules | undefined, exclude: IgnoreRules | undefined): boolean {
  // An include rule "matches" like an ignore rule: the path itself or anything under it.
  if (include && !include.ignores(path)) return false;
  return !exclude?.ignores(path);
}

/**
 * fsutil's `followpaths`: paths to send, and if one is a symlink, its target too (the frontend
 * asks for the Dockerfile this way, and a Dockerfile may be a link to docker/Dockerfile.prod).
 * Targets outside the tree are left out, as the engine could not read them anyway.
 */
export function followPathIncludes(entries: readonly TreeEntry[], followPaths: readonly string[]): string[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const out: string[] = [];
  for (const start of followPaths) {
    let path = normalize(start);
    for (let hops = 0; path !== undefined && hops < 40; hops++) {
      out.push(path);
      const e = byPath.get(path);
      if (e?.kind !== 'symlink' || e.linkname === undefined) break;
      path = e.linkname.startsWith('/') ? undefined : normalize(posix.join(posix.dirname(path), e.linkname));
    }
  }
  return [...new Set(out)];
}

function normalize(p: string): string | undefined {
  const n = posix
    .normalize(p)
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
  return n === '..' || n.startsWith('../') || n === '.' || n === '' ? undefined : n;
}
