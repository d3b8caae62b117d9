import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { PlannedCache } from '../planning/plan.js';
import { cacheKey } from './cache-key.js';
import { cacheLogLine, type RestoreResult, type SaveResult } from './cache-store.js';
import type { RegistryStore } from './registry-store.js';
import type { StoreIndex } from './store-index.js';

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

/** What the cache functions work with: the registry store, its retention index and the project's bound. */
export interface SharedCaches {
  store: RegistryStore;
  index: StoreIndex;
  projectId: number;
  /** Per project in the registry: least recently used tags are deleted past it (also the largest one entry). */
  maxBytes: number;
  now?: () => number;
}

/** The registry tag of a cache key (keys are free text: a readable part plus a hash of the whole key). */
export function cacheTag(key: string): string {
  const readable = key
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 80);
  return `cache-${readable ? `${readable}-` : ''}${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** Restores every cache path of the job from the registry; a cache that cannot be read is a miss, never a failed job. */
export async function restoreCaches(shared: SharedCaches, caches: readonly ResolvedCache[], workdir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const { cache, key } of caches) {
    if (cache.policy === 'push') continue;
    for (const p of cache.paths) {
      const path = safeCachePath(p);
      const full = `${key}:${path}`;
      lines.push(
        await restoreOne(shared, full, join(workdir, path)).then(
          cacheLogLine,
          (err: unknown) => `cache miss for key ${full}: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
    }
  }
  return lines;
}

async function restoreOne(shared: SharedCaches, key: string, dest: string): Promise<RestoreResult> {
  const started = Date.now();
  const { store, index, projectId } = shared;
  const repository = store.repository(projectId, 'cache');
  const tag = cacheTag(key);
  const digest = await store.resolve(repository, tag);
  if (!digest) return { status: 'miss', key, bytes: 0, ms: Date.now() - started };
  // By digest: the tag may be re-pushed or evicted meanwhile; this manifest is the one we saw.
  const got = await store.fetch('cache', repository, digest);
  await store.local.extractBlob(got.path, dest);
  await index.touchCache(projectId, tag, (shared.now ?? Date.now)());
  return { status: 'hit', key, restoredKey: key, bytes: got.blob.size, ms: Date.now() - started };
}

/** Saves the job's cache paths when the cache's `when` matches the job's outcome. */
export async function saveCaches(shared: SharedCaches, caches: readonly ResolvedCache[], workdir: string, succeeded: boolean): Promise<string[]> {
  const lines: string[] = [];
  for (const { cache, key } of caches) {
    if (cache.policy === 'pull') continue;
    if ((cache.when === 'on_success' && !succeeded) || (cache.when === 'on_failure' && succeeded)) continue;
    for (const p of cache.paths) {
      const path = safeCachePath(p);
      lines.push(cacheLogLine(await saveOne(shared, `${key}:${path}`, join(workdir, path))));
    }
  }
  return lines;
}

async function saveOne(shared: SharedCaches, key: string, src: string): Promise<SaveResult> {
  const started = Date.now();
  const { store, index, projectId } = shared;
  const result = (saved: boolean, bytes: number, evicted: string[], reason?: string): SaveResult => ({
    saved,
    key,
    bytes,
    evicted,
    ...(reason ? { reason } : {}),
    ms: Date.now() - started,
  });
  if (!(await stat(src).catch(() => undefined))?.isDirectory()) return result(false, 0, [], `${src} is not a directory`);
  const blob = await store.local.packDirectory(src);
  if (blob.size > shared.maxBytes) return result(false, blob.size, [], `${blob.size} bytes is more than the cache bound of ${shared.maxBytes}`);
  const repository = store.repository(projectId, 'cache');
  const tag = cacheTag(key);
  const now = (shared.now ?? Date.now)();
  const previous = await store.resolve(repository, tag);
  const entry = await store.push('cache', repository, tag, blob, {
    config: { key, bytes: blob.size, created: new Date(now).toISOString() },
    annotations: { 'org.opencontainers.image.created': new Date(now).toISOString(), 'io.slipway.cache.key': key.slice(0, 1000) },
  });
  // The tag moved to the new manifest: delete the one it replaced rather than leave it untagged
  // for ever (a job restoring it right now gets a miss).
  if (previous && previous !== entry.digest) await store.remove(repository, previous).catch(() => undefined);
  await index.touchCache(projectId, tag, now, blob.size);
  return result(true, blob.size, await evictOverBound(shared, tag));
}

/**
 * Deletes the project's least recently used cache tags until the rest fit its bound (the one just
 * saved stays). Run by the job that saved, right after its save; a delete that fails is left for
 * the next save to retry. A job restoring an evicted tag meanwhile gets a miss.
 */
async function evictOverBound(shared: SharedCaches, keep: string): Promise<string[]> {
  const { store, index, projectId } = shared;
  const repository = store.repository(projectId, 'cache');
  const evicted: string[] = [];
  for (const tag of await index.cachesOverBound(projectId, shared.maxBytes, keep)) {
    try {
      const digest = await store.resolve(repository, tag);
      if (digest) await store.remove(repository, digest);
    } catch {
      continue; // still listed: the next save tries again
    }
    await index.forgetCache(projectId, tag);
    evicted.push(tag);
  }
  return evicted;
}
