import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';

export interface CacheKeyInput {
  /** Joined in front of the hash (GitLab's cache:key:prefix), e.g. the job name. */
  prefix?: string;
  /** Lockfiles, relative to the work tree (GitLab's cache:key:files). */
  files: readonly string[];
  workdir: string;
}

/**
 * Like GitLab's cache:key:files: a hash over the listed files, so the key
 * changes exactly when a lockfile does. GitLab hashes the commits that last
 * changed them; we hash contents, which needs no history in the work tree.
 * A missing file counts as "missing" (GitLab falls back to "default" when
 * all are missing; so do we). Paths may not leave the work tree.
 */
export async function cacheKey(input: CacheKeyInput): Promise<string> {
  if (input.files.length === 0) throw new Error('cache key: no files listed');
  const root = await realpath(input.workdir);
  const hash = createHash('sha256');
  let found = 0;
  for (const file of [...new Set(input.files)].sort()) {
    if (file.includes('\0') || isAbsolute(file)) throw new Error(`cache key file ${JSON.stringify(file)} must be a relative path in the work tree`);
    const path = await realpath(resolve(root, file)).catch(() => undefined);
    if (path !== undefined && !inside(root, path)) throw new Error(`cache key file ${JSON.stringify(file)} is outside the work tree`);
    const content = path === undefined ? undefined : await readFile(path).catch(() => undefined);
    hash.update(`${file}\0`);
    if (content === undefined) hash.update('missing\0');
    else {
      found++;
      hash.update(createHash('sha256').update(content).digest('hex'));
    }
  }
  const digest = found === 0 ? 'default' : hash.digest('hex').slice(0, 40);
  return input.prefix ? `${input.prefix}-${digest}` : digest;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}
