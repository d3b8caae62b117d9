import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runTar } from './tar.js';
import { entryPath } from './cache-path.js';

export interface RestoreResult {
  /** hit: the exact key; fallback: one of the fallback keys; miss: nothing restored. */
  status: 'hit' | 'fallback' | 'miss';
  key: string;
  /** The key whose entry was restored (differs from key on a fallback). */
  restoredKey?: string;
  bytes: number;
  ms: number;
}

export interface SaveResult {
  saved: boolean;
  key: string;
  bytes: number;
  /** Entries removed to stay under the bound, least recently used first. */
  evicted: string[];
  reason?: string;
  ms: number;
}

/**
 * Dependency caches under one root: one tar per key, written to a temp
 * name and renamed into place, so readers see a whole entry or none and
 * need no lock (a reader that opened an entry keeps it even if it is
 * replaced or evicted meanwhile). An entry's mtime is its last use: set on
 * save and on every restore, it orders LRU eviction (atime is often off).
 */
export class CacheStore {
  constructor(
    private readonly root: string,
    private readonly maxBytes: number,
    private readonly timeoutMs = 10 * 60_000,
  ) {}

  async restore(opts: { key: string; fallbackKeys?: readonly string[]; dest: string }): Promise<RestoreResult> {
    const started = Date.now();
    const candidates = [opts.key, ...(opts.fallbackKeys ?? [])];
    for (const [i, key] of candidates.entries()) {
      const path = entryPath(this.root, key);
      const info = await stat(path).catch(() => undefined);
      if (!info) continue;
      await mkdir(opts.dest, { recursive: true });
      try {
        await runTar(['--extract', '--no-same-owner', '--file', path, '--directory', opts.dest], this.timeoutMs);
      } catch (err) {
        // Evicted between stat and open, or damaged: a miss for this key, never a failed job.
        if ((await stat(path).catch(() => undefined)) === undefined) continue;
        throw err;
      }
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
      return { status: i === 0 ? 'hit' : 'fallback', key: opts.key, restoredKey: key, bytes: info.size, ms: Date.now() - started };
    }
    return { status: 'miss', key: opts.key, bytes: 0, ms: Date.now() - started };
  }

  async save(opts: { key: string; src: string }): Promise<SaveResult> {
    const started = Date.now();
    const path = entryPath(this.root, opts.key);
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.tmp-${randomUUID()}.tar`);
    const result = (saved: boolean, bytes: number, evicted: string[], reason?: string): SaveResult => ({
      saved, key: opts.key, bytes, evicted, ...(reason ? { reason } : {}), ms: Date.now() - started,
    });
    try {
      if (!(await stat(opts.src).catch(() => undefined))?.isDirectory()) return result(false, 0, [], `${opts.src} is not a directory`);
      // --hard-dereference: hard links are stored as files, so an entry never depends on another.
      await runTar(['--create', '--hard-dereference', '--file', tmp, '--directory', opts.src, '.'], this.timeoutMs);
      const { size } = await stat(tmp);
      if (size > this.maxBytes) return result(false, size, [], `${size} bytes is more than the cache bound of ${this.maxBytes}`);
      await rename(tmp, path);
      return result(true, size, await this.evict(basename(path)));
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Removes least recently used entries until the total fits; `keep` (just saved) stays. */
  async evict(keep?: string): Promise<string[]> {
    const names = (await readdir(this.root).catch(() => [] as string[])).filter((n) => n.endsWith('.tar') && !n.startsWith('.tmp-'));
    const entries = (
      await Promise.all(names.map(async (name) => ({ name, info: await stat(join(this.root, name)).catch(() => undefined) })))
    ).flatMap((e) => (e.info ? [{ name: e.name, size: e.info.size, used: e.info.mtimeMs }] : []));
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    const evicted: string[] = [];
    for (const e of entries.sort((a, b) => a.used - b.used)) {
      if (total <= this.maxBytes) break;
      if (e.name === keep) continue;
      await rm(join(this.root, e.name), { force: true });
      total -= e.size;
      evicted.push(e.name.replace(/\.tar$/, ''));
    }
    return evicted;
  }
}

/** One line for the job log and run record. */
export function cacheLogLine(r: RestoreResult | SaveResult): string {
  if ('status' in r) {
    if (r.status === 'miss') return `cache miss for key ${r.key}`;
    const which = r.status === 'fallback' ? ` (fallback key ${r.restoredKey})` : '';
    return `cache hit for key ${r.key}${which}: ${r.bytes} bytes restored in ${r.ms} ms`;
  }
  if (!r.saved) return `cache not saved for key ${r.key}: ${r.reason ?? 'unknown reason'}`;
  const evicted = r.evicted.length > 0 ? `, evicted ${r.evicted.join(', ')}` : '';
  return `cache saved for key ${r.key}: ${r.bytes} bytes in ${r.ms} ms${evicted}`;
}
