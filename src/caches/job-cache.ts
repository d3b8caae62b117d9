import { join, normalize } from 'node:path';
import type { PlannedCache } from '../pipeline/plan.js';
import { cacheKey } from './cache-key.js';
import { cacheLogLine, type CacheStore } from './cache-store.js';

/** A cache path must stay inside the work tree: no absolute paths, no '..'. */
function safeCachePath(p: string): string {
  const n = normalize(p).replace(/\/+$/, '');
  if (n.startsWith('/') || n === '..' || n.startsWith('../') || n === '.' || n === '') {
    throw new Error(`cache path ${JSON.stringify(p)} must be a directory inside the work tree`);
  }
  return n;
}

/** The real key: `key-<hash of key files>` when `files:` is set (GitLab's cache:key:files). */
export async function resolveCacheKey(cache: PlannedCache, workdir: string): Promise<string> {
  if (cache.keyFiles.length === 0) return cache.key;
  return cacheKey({ prefix: cache.key, files: cache.keyFiles, workdir });
}

export interface ResolvedCache {
  cache: PlannedCache;
  key: string;
}

/** Keys are computed once, before the job runs, so a job that rewrites its lockfile saves under the key it restored (as GitLab does). */
export async function resolveCaches(caches: readonly PlannedCache[], workdir: string): Promise<ResolvedCache[]> {
  return Promise.all(caches.map(async (cache) => ({ cache, key: await resolveCacheKey(cache, workdir) })));
}

/** Restores every cache path of the job; returns the lines for the job log. */
export async function restoreCaches(store: CacheStore, caches: readonly ResolvedCache[], workdir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const { cache, key } of caches) {
    if (cache.policy === 'push') continue;
    for (const p of cache.paths) {
      const path = safeCachePath(p);
      const result = await store.restore({ key: `${key}:${path}`, dest: join(workdir, path) });
      lines.push(cacheLogLine(result));
    }
  }
  return lines;
}

/** Saves the job's cache paths when the cache's `when` matches the job's outcome. */
export async function saveCaches(store: CacheStore, caches: readonly ResolvedCache[], workdir: string, succeeded: boolean): Promise<string[]> {
  const lines: string[] = [];
  for (const { cache, key } of caches) {
    if (cache.policy === 'pull') continue;
    if ((cache.when === 'on_success' && !succeeded) || (cache.when === 'on_failure' && succeeded)) continue;
    for (const p of cache.paths) {
      const path = safeCachePath(p);
      lines.push(cacheLogLine(await store.save({ key: `${key}:${path}`, src: join(workdir, path) })));
    }
  }
  return lines;
}
