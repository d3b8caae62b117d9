import { PassThrough, type Readable } from 'node:stream';
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitError, killGroup, redact, runGit, spawnGit } from './git-exec.js';
import { assertSha } from './sha.js';
import { extractTar } from './tar-extract.js';

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * A tar of the tree at `sha` (no .git), streamed straight from
 * `git archive`, e.g. as an image build context. Reading objects needs no
 * lock: they are immutable and fetch/gc only add or pack them. If git fails
 * or the timeout passes, the stream is destroyed with the error, so the
 * consumer (docker build, extractor) sees it instead of a truncated tar.
 */
export function archiveStream(opts: { mirrorDir: string; sha: string; subdir?: string; timeoutMs?: number }): Readable {
  const sha = assertSha(opts.sha);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const out = new PassThrough();
  // `<sha>:<dir>` archives that directory as the root: a build context below the repository root.
  const subdir = opts.subdir === undefined ? '' : normalizeSubdir(opts.subdir);
  const child = spawnGit(['--git-dir', opts.mirrorDir, 'archive', '--format=tar', subdir ? `${sha}:${subdir}` : sha]);
  let stderr = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += c.toString('utf8');
  });
  child.stdout?.pipe(out, { end: false });
  // A consumer that stops early must not leave git running.
  out.on('close', () => killGroup(child));
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code) => {
    clearTimeout(timer);
    if (code === 0 && !timedOut) out.end();
    else {
      const why = timedOut ? `timed out after ${timeoutMs}ms` : `exit ${code}: ${redact(stderr.trim())}`;
      out.destroy(new Error(`git archive ${sha} ${why}`));
    }
  });
  return out;
}

/**
 * Writes the tree at `sha` into `dest` (created if missing): a work tree for one run. git itself
 * writes the files (read-tree + checkout-index with a private index), which is an order of
 * magnitude faster than extracting a tar in Node for large trees (docs/benchmarks.md), and git
 * refuses paths that leave the work tree or pass through a symlink.
 */
export async function exportTree(opts: { mirrorDir: string; sha: string; dest: string; timeoutMs?: number }): Promise<void> {
  const sha = assertSha(opts.sha);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  await mkdir(opts.dest, { recursive: true });
  const dest = await realpath(opts.dest);
  const scratch = await mkdtemp(join(tmpdir(), 'slipway-index-'));
  // The mirror is shared by concurrent runs: each export uses an index of its own.
  const env = { GIT_INDEX_FILE: join(scratch, 'index') };
  try {
    // One git process (read-tree -u writes the files as it reads the tree): a process start costs
    // more than the checkout of a small tree on a busy node. --reset overwrites what is in the way.
    await runGit(['--git-dir', opts.mirrorDir, '--work-tree', dest, 'read-tree', '--reset', '-u', sha], timeoutMs, env);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The tar-based export, kept for consumers that only have a stream. */
export async function extractArchive(opts: { mirrorDir: string; sha: string; dest: string; timeoutMs?: number }): Promise<void> {
  await extractTar(archiveStream(opts), opts.dest);
}

/** A directory of the repository, relative, without '..' (it comes from the pipeline file). */
function normalizeSubdir(dir: string): string {
  const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..') || dir.startsWith('/') || dir.startsWith('-'))
    throw new Error(`build context ${JSON.stringify(dir)} must be a directory inside the repository`);
  return parts.join('/');
}

/** A file's content at `sha`, or null when it does not exist there. */
export async function readFileAt(mirrorDir: string, sha: string, path: string, timeoutMs = 30_000): Promise<string | null> {
  const commit = assertSha(sha);
  if (path.startsWith('-') || path.split('/').includes('..')) throw new Error(`not a repository path: ${JSON.stringify(path)}`);
  try {
    return (await runGit(['--git-dir', mirrorDir, 'cat-file', 'blob', `${commit}:${path}`], timeoutMs)).stdout;
  } catch (err) {
    // Only "no such file at that commit" means absent; any other failure must not pass silently.
    if (err instanceof GitError && /does not exist|not a valid object name|exists on disk, but not in/i.test(err.stderr)) return null;
    throw err;
  }
}

/** The names of the files directly in directory `dir` at `sha`, or null when there is no such directory. */
export async function listFilesAt(mirrorDir: string, sha: string, dir: string, timeoutMs = 30_000): Promise<string[] | null> {
  const commit = assertSha(sha);
  const clean = dir.replace(/\/+$/, '');
  if (clean === '' || clean.startsWith('-') || clean.split('/').includes('..')) throw new Error(`not a repository directory: ${JSON.stringify(dir)}`);
  // -z: names verbatim, whatever characters they hold. Entries: "<mode> <type> <object>\t<path>".
  const { stdout } = await runGit(['--git-dir', mirrorDir, 'ls-tree', '-z', `${commit}`, '--', `${clean}/`], timeoutMs);
  const entries = stdout.split('\0').filter((e) => e !== '');
  if (entries.length === 0) return null;
  return entries
    .map((e) => /^\d+ (\w+) [0-9a-f]+\t(.*)$/s.exec(e))
    .filter((m): m is RegExpExecArray => m?.[1] === 'blob')
    .map((m) => (m[2] ?? '').slice(clean.length + 1));
}
