import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { killGroup, runGitBytes, spawnGit } from '../git/git-exec.js';
import { assertSha } from '../git/sha.js';
import type { FileStat } from './messages.js';

/**
 * A commit's tree as a file system the engine can sync from, without a checkout: entries come from
 * `git ls-tree`, contents from one `git cat-file --batch` process.
 *
 * Modification times: the engine decides whether a file changed since the last sync by its size and
 * mtime (fsutil's sameFile), and a tree has no mtimes. Each file gets a fixed date (2000-01-01 UTC)
 * plus a sub-second part taken from its blob id, so the same content always has the same mtime and
 * changed content (almost surely) a different one: the engine then asks only for changed files.
 * Images built this way carry those dates instead of the checkout time, which also makes their
 * layers reproducible.
 */

export interface TreeEntry {
  /** Relative path, '/'-separated, no leading './'. */
  path: string;
  kind: 'dir' | 'file' | 'symlink';
  /** Git's mode: 040000, 100644, 100755 or 120000. */
  gitMode: string;
  /** Blob id for files and symlinks. */
  oid?: string;
  size: number;
  /** Symlink target. */
  linkname?: string;
  /** Content held in memory instead of a blob (a generated Dockerfile). */
  content?: Buffer;
}

const BASE_MTIME_NS = 946_684_800n * 1_000_000_000n;
const MODE_DIR = 0x8000_0000; // Go os.ModeDir
const MODE_SYMLINK = 0x0800_0000; // Go os.ModeSymlink
const MAX_LISTING_BYTES = 512 * 1024 * 1024;
const LISTING_TIMEOUT_MS = 5 * 60_000;
const HIGH_WATER = 8 * 1024 * 1024;

/** Go's os.FileMode for an entry (fsutil sends FileMode bits, not st_mode). */
export function goMode(e: Pick<TreeEntry, 'kind' | 'gitMode'>): number {
  if (e.kind === 'dir') return (MODE_DIR | 0o755) >>> 0;
  if (e.kind === 'symlink') return (MODE_SYMLINK | 0o777) >>> 0;
  return e.gitMode === '100755' ? 0o755 : 0o644;
}

export function mtimeOf(e: Pick<TreeEntry, 'oid' | 'content'>): bigint {
  const id = e.oid ?? (e.content ? blobId(e.content) : '0');
  return BASE_MTIME_NS + (BigInt(`0x${id.slice(0, 12)}`) % 1_000_000_000n);
}

/** The id git would give this content as a blob: generated files are dated as the same file in git would be. */
function blobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function statOf(e: TreeEntry): FileStat {
  return {
    path: e.path,
    mode: goMode(e),
    size: e.kind === 'dir' ? 0 : e.size,
    modTime: e.kind === 'dir' ? BASE_MTIME_NS : mtimeOf(e),
    ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
  };
}

/** Compares as Go's filepath.Walk visits: component by component, byte order ("a" < "a/x" < "a.txt"). */
export function walkOrder(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = Buffer.compare(Buffer.from(pa[i] ?? ''), Buffer.from(pb[i] ?? ''));
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

/** The entries of `<sha>[:<subdir>]`, in walk order; symlink targets read; submodules left out (as `git archive` does). */
export async function listTree(opts: { mirrorDir: string; sha: string; subdir?: string; blobs: BlobReader }): Promise<TreeEntry[]> {
  const sha = assertSha(opts.sha);
  const rev = opts.subdir ? `${sha}:${opts.subdir}` : sha;
  const out = await runGitBytes(['--git-dir', opts.mirrorDir, 'ls-tree', '-r', '-t', '-l', '-z', '--full-tree', rev], LISTING_TIMEOUT_MS, MAX_LISTING_BYTES);
  const entries: TreeEntry[] = [];
  for (const raw of splitNul(out)) {
    const rec = utf8(raw);
    const tab = rec.indexOf('\t');
    const [gitMode = '', type = '', oid = '', size = ''] = rec.slice(0, tab).split(/ +/);
    const path = rec.slice(tab + 1);
    if (type === 'tree') entries.push({ path, kind: 'dir', gitMode, size: 0 });
    else if (type === 'blob' && gitMode === '120000') entries.push({ path, kind: 'symlink', gitMode, oid, size: Number(size) });
    else if (type === 'blob') entries.push({ path, kind: 'file', gitMode, oid, size: Number(size) });
  }
  for (const e of entries) {
    if (e.kind === 'symlink' && e.oid) e.linkname = (await opts.blobs.readAll(e.oid)).toString('utf8');
  }
  return entries.sort((a, b) => walkOrder(a.path, b.path));
}

function splitNul(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < buf.length; ) {
    let end = buf.indexOf(0, start);
    if (end < 0) end = buf.length;
    if (end > start) out.push(buf.subarray(start, end));
    start = end + 1;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * File sync sends names as protobuf strings (UTF-8). A name git holds as other bytes would arrive
 * altered, so it is refused, naming the file, instead of building an image with a renamed file.
 */
function utf8(record: Buffer): string {
  try {
    return strictUtf8.decode(record);
  } catch {
    const name = record.subarray(record.indexOf(9) + 1).toString('latin1');
    throw new Error(
      `the file name ${JSON.stringify(name)} is not UTF-8, which BuildKit's file sync cannot carry; rename it, or build with SLIPWAY_IMAGE_BUILDER=classic`,
    );
  }
}

/**
 * One `git cat-file --batch` per build: a 10,000-file context is then read without 10,000
 * processes. Requests are served one at a time, in order.
 */
export class BlobReader {
  private readonly child: ChildProcess;
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(mirrorDir: string) {
    this.child = spawnGit(['--git-dir', mirrorDir, 'cat-file', '--batch'], {}, { stdin: true });
    this.child.stdout?.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      // A large blob must not pile up in memory while the engine is slow to take it.
      if (this.buf.length > HIGH_WATER) this.child.stdout?.pause();
      this.wake?.();
    });
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    this.child.on('close', end);
    this.child.on('error', end);
    this.child.stdin?.on('error', end);
  }

  /** Streams one blob's bytes to `onChunk` (awaited, for back-pressure). */
  read(oid: string, onChunk: (chunk: Buffer) => Promise<void>): Promise<void> {
    const next = this.queue.then(() => this.readNow(oid, onChunk));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async readAll(oid: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.read(oid, async (c) => void parts.push(Buffer.from(c)));
    return Buffer.concat(parts);
  }

  close(): void {
    this.child.stdin?.end();
    killGroup(this.child);
  }

  private async readNow(oid: string, onChunk: (chunk: Buffer) => Promise<void>): Promise<void> {
    if (!/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(oid)) throw new Error(`not an object id: ${oid.slice(0, 80)}`);
    this.child.stdin?.write(`${oid}\n`);
    const header = (await this.readLine()).split(' ');
    if (header[1] === 'missing') throw new Error(`object ${oid} is missing from the mirror`);
    let left = Number(header[2]);
    if (!Number.isSafeInteger(left)) throw new Error(`git cat-file: unexpected header ${header.join(' ').slice(0, 100)}`);
    while (left > 0) {
      await this.fill();
      const take = this.buf.subarray(0, Math.min(left, this.buf.length, 256 * 1024));
      this.buf = this.buf.subarray(take.length);
      if (this.buf.length < HIGH_WATER / 4) this.child.stdout?.resume();
      left -= take.length;
      await onChunk(take);
    }
    await this.readLine(); // the newline after the content
  }

  private async readLine(): Promise<string> {
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0) {
        const line = this.buf.subarray(0, nl).toString('utf8');
        this.buf = this.buf.subarray(nl + 1);
        return line;
      }
      await this.fill(true);
    }
  }

  private async fill(force = false): Promise<void> {
    if (this.buf.length > 0 && !force) return;
    if (this.ended) throw new Error('git cat-file ended early');
    await new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }
}
