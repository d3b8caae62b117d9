import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

/** A tar held in the local store under its content digest (the registry's blob digest). */
export interface LocalBlob {
  digest: string;
  size: number;
  path: string;
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** The local entry key of a blob: `sha256-<hex>` (a plain key, so the file is `sha256-<hex>.tar`). */
export function blobKey(digest: string): string {
  const hex = DIGEST.exec(digest)?.[1];
  if (!hex) throw new Error(`invalid blob digest ${JSON.stringify(digest)}`);
  return `sha256-${hex}`;
}

/**
 * Tars under one root on this node's disk, in front of the registry: blobs of artifacts and
 * caches under their digest (`sha256-<hex>.tar`; content-addressed, so a local copy is never
 * stale), and, for the older keyed API, one tar per key. Each is written to a temp
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

  /** Tars a directory (hard links stored as files) into the store under its digest. */
  async packDirectory(src: string): Promise<LocalBlob> {
    return this.pack((tmp) => ['--create', '--hard-dereference', '--file', tmp, '--directory', src, '.']);
  }

  /** Tars the listed files of `dir` (relative, '/'-separated; symlinks kept as links) under its digest. */
  async packFiles(dir: string, files: readonly string[]): Promise<LocalBlob> {
    await mkdir(this.root, { recursive: true });
    // NUL-separated (a file name may contain a newline) and verbatim (one starting with '-' is a name, not an option).
    const list = join(this.root, `.tmp-${randomUUID()}.list`);
    try {
      await writeFile(list, files.map((f) => `${f}\0`).join(''));
      return await this.pack((tmp) => [
        '--create',
        '--hard-dereference',
        '--file',
        tmp,
        '--directory',
        dir,
        '--no-recursion',
        '--null',
        '--verbatim-files-from',
        '--files-from',
        list,
      ]);
    } finally {
      await rm(list, { force: true });
    }
  }

  /** The local copy of a blob, if this node has it (its last use is set to now). */
  async blobPath(digest: string): Promise<string | undefined> {
    const path = entryPath(this.root, blobKey(digest));
    const now = new Date();
    return (await utimes(path, now, now).then(
      () => true,
      () => false,
    ))
      ? path
      : undefined;
  }

  /**
   * Writes a downloaded blob into the store, checking its size and digest on the way; a blob that
   * does not match is never kept.
   */
  async adoptDownload(digest: string, size: number, body: ReadableStream<Uint8Array>): Promise<LocalBlob> {
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.tmp-${randomUUID()}.tar`);
    const hash = createHash('sha256');
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(bytes > size ? new Error(`blob ${digest} is larger than its ${size} bytes`) : null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>), count, createWriteStream(tmp), {
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== digest || bytes !== size) throw new Error(`blob ${digest}: downloaded ${bytes} bytes hashing to ${got}`);
      return await this.adopt(tmp, digest, size);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Extracts a stored blob into dest (created if missing). */
  async extractBlob(path: string, dest: string): Promise<void> {
    await mkdir(dest, { recursive: true });
    await runTar(['--extract', '--no-same-owner', '--file', path, '--directory', dest], this.timeoutMs);
  }

  private async pack(args: (tmp: string) => string[]): Promise<LocalBlob> {
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.tmp-${randomUUID()}.tar`);
    try {
      await runTar(args(tmp), this.timeoutMs);
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(tmp)) hash.update(chunk as Buffer);
      const { size } = await stat(tmp);
      return await this.adopt(tmp, `sha256:${hash.digest('hex')}`, size);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Renames a finished temp file into place (readers see a whole blob or none) and evicts past the bound. */
  private async adopt(tmp: string, digest: string, size: number): Promise<LocalBlob> {
    const path = entryPath(this.root, blobKey(digest));
    await rename(tmp, path);
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
    await this.evict(basename(path));
    return { digest, size, path };
  }

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
      saved,
      key: opts.key,
      bytes,
      evicted,
      ...(reason ? { reason } : {}),
      ms: Date.now() - started,
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
    const entries = (await Promise.all(names.map(async (name) => ({ name, info: await stat(join(this.root, name)).catch(() => undefined) })))).flatMap((e) =>
      e.info ? [{ name: e.name, size: e.info.size, used: e.info.mtimeMs }] : [],
    );
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
