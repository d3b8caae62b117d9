import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, readdir, copyFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { compileGlob, normalizePath } from '../pipeline/glob.js';
import type { SafeRegex } from '../pipeline/regex.js';

const MAX_ARTIFACT_BYTES = 2 * 1024 ** 3;
const MAX_WALK_ENTRIES = 200_000;

/** Where a job's artifacts live between jobs of one run. */
export function artifactDir(workspaceDir: string, runId: string, jobName: string): string {
  return join(workspaceDir, 'artifacts', runId, createHash('sha256').update(jobName).digest('hex').slice(0, 16));
}

/** Files of the work tree (relative, '/'-separated) that match the globs; symlinks are not followed. */
export async function matchFiles(workdir: string, globs: readonly string[], exclude: readonly string[] = []): Promise<string[]> {
  if (globs.length === 0) return [];
  // A plain directory name ("dist" or "dist/") means everything under it, as in GitLab.
  const include = globs.flatMap((g) => {
    const p = normalizePath(g).replace(/\/+$/, '');
    return [compileGlob(p), compileGlob(`${p}/**`)];
  });
  const skip = exclude.map((g) => compileGlob(normalizePath(g)));
  const out: string[] = [];
  let seen = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (++seen > MAX_WALK_ENTRIES) throw new Error(`more than ${MAX_WALK_ENTRIES} files in the work tree: narrow the artifact paths`);
      const full = join(dir, entry.name);
      const rel = relative(workdir, full).split(sep).join('/');
      if (entry.isDirectory()) await walk(full);
      else if ((entry.isFile() || entry.isSymbolicLink()) && matches(include, rel) && !matches(skip, rel)) out.push(rel);
    }
  };
  await walk(workdir);
  return out.sort();
}

function matches(globs: readonly SafeRegex[], path: string): boolean {
  return globs.some((g) => g.test(path));
}

/** Copies a finished job's artifact files into its artifact dir. Returns what was kept. */
export async function collectArtifacts(workdir: string, dest: string, paths: readonly string[], exclude: readonly string[]): Promise<{ files: number; bytes: number }> {
  const files = await matchFiles(workdir, paths, exclude);
  let bytes = 0;
  for (const rel of files) {
    const src = join(workdir, rel);
    const info = await lstat(src);
    bytes += info.size;
    if (bytes > MAX_ARTIFACT_BYTES) throw new Error(`artifacts are larger than ${MAX_ARTIFACT_BYTES} bytes`);
    await mkdir(dirname(join(dest, rel)), { recursive: true });
    await copyFile(src, join(dest, rel));
  }
  return { files: files.length, bytes };
}

/** Copies earlier jobs' artifacts into a new job's work tree (later ones win, as in GitLab). */
export async function restoreArtifacts(sources: readonly string[], workdir: string): Promise<void> {
  for (const src of sources) {
    const exists = await lstat(src).catch(() => undefined);
    if (exists?.isDirectory()) await cp(src, workdir, { recursive: true, force: true, verbatimSymlinks: true });
  }
}
