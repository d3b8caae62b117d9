import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock } from './file-lock.js';
import { GitError, httpAuthEnv, redact, runGit, type GitHttpAuth } from './git-exec.js';
import { mirrorDirName } from './mirror-path.js';
import { assertSha } from './sha.js';

export interface SyncMirrorOptions {
  /** Workspace root holding one bare mirror per project. */
  root: string;
  /** GitLab path_with_namespace, e.g. "group/sub/app". */
  project: string;
  /**
   * The repository's URL, without credentials: they go in `auth`. (A URL with user:password@ would
   * still work, but sits in git's argv and the mirror's config; config validation refuses one.)
   */
  cloneUrl: string;
  /** Credentials for http(s) URLs, sent as a header set through git's environment (httpAuthEnv). */
  auth?: GitHttpAuth;
  sha: string;
  /**
   * The ref the sha was pushed to (refs/heads/main, refs/tags/v1). When given, only that ref is
   * fetched, which keeps a warm fetch small on repositories with many branches.
   */
  ref?: string;
  /** Bounds the whole sync, including the wait for the lock. */
  timeoutMs: number;
  /**
   * When given: a sha this process found in this mirror less than this long ago is taken as still
   * there, without a git process or the lock (`recalled` in the result). For callers that can tell
   * a mirror that went bad meanwhile (the tree cannot be read) and then sync again without it.
   */
  recallWithinMs?: number;
}

export interface SyncMirrorResult {
  dir: string;
  /** true when the mirror was (re-)cloned, false when an existing one was reused. */
  cloned: boolean;
  /** false when the sha was already present and the remote was not contacted. */
  fetched: boolean;
  /** Present when the sha was not looked for: this process had found it there moments ago (`recallWithinMs`). */
  recalled?: true;
}

/** Mirror and sha → when this process last found the sha in the mirror (oldest first; at most VERIFIED_MAX). */
const verified = new Map<string, number>();
const VERIFIED_MAX = 1000;

function rememberVerified(dir: string, sha: string): void {
  const key = `${dir}\u0000${sha}`;
  verified.delete(key);
  verified.set(key, Date.now());
  if (verified.size > VERIFIED_MAX) {
    const oldest = verified.keys().next();
    if (!oldest.done) verified.delete(oldest.value);
  }
}

/** Whether this process found `sha` in the mirror at `dir` less than `withinMs` ago (and the mirror is still there). */
function recentlyVerified(dir: string, sha: string, withinMs: number): boolean {
  const at = verified.get(`${dir}\u0000${sha}`);
  return at !== undefined && Date.now() - at < withinMs && existsSync(dir);
}

/** Forgets that the sha was found in the mirror: the next sync looks again (after reading the tree failed). */
export function forgetVerified(dir: string, sha: string): void {
  verified.delete(`${dir}\u0000${sha}`);
}

/**
 * Makes sure the project's bare mirror contains `sha`. Safe to call
 * concurrently for one project (a per-mirror lock file serialises callers)
 * and safe to repeat: the second call is a no-op once the sha is present.
 * A corrupt mirror (crash mid-clone, broken objects) is removed and re-cloned.
 */
export async function syncMirror(opts: SyncMirrorOptions): Promise<SyncMirrorResult> {
  const sha = assertSha(opts.sha);
  if (opts.cloneUrl.startsWith('-')) throw new Error('clone URL must not start with "-"');
  const name = mirrorDirName(opts.project);
  const dir = join(opts.root, name);
  // Each job of a pipeline syncs the same sha: the planner's check (or the first job's) moments ago answers for the rest.
  if (opts.recallWithinMs !== undefined && recentlyVerified(dir, sha, opts.recallWithinMs)) return { dir, cloned: false, fetched: false, recalled: true };
  const deadline = Date.now() + opts.timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  // Only the calls that reach the remote get the credentials.
  const remoteEnv = opts.auth && /^https?:\/\//i.test(opts.cloneUrl) ? httpAuthEnv(opts.cloneUrl, opts.auth) : {};
  await mkdir(opts.root, { recursive: true });

  return withFileLock(`${dir}.lock`, { timeoutMs: opts.timeoutMs }, async () => {
    await removeTempClones(opts.root, name);
    let cloned = false;
    let fetched = false;
    const state = existsSync(dir) ? await inspectMirror(dir, sha, left()) : 'absent';
    if (state === 'broken') await rm(dir, { recursive: true, force: true });
    if (state === 'absent' || state === 'broken') {
      await cloneMirror(opts.cloneUrl, dir, left(), remoteEnv);
      cloned = true;
    } else if (state === 'has-sha') {
      rememberVerified(dir, sha);
      return { dir, cloned, fetched };
    } else {
      try {
        await fetchRefs(dir, opts.cloneUrl, opts.ref, left(), remoteEnv);
        fetched = true;
      } catch (err) {
        if (await fsckOk(dir, left())) throw err; // a network problem, not a broken mirror
        await rm(dir, { recursive: true, force: true });
        await cloneMirror(opts.cloneUrl, dir, left(), remoteEnv);
        cloned = true;
      }
    }
    if (!(await hasCommit(dir, sha, left()))) {
      // Not on any ref (e.g. a deleted branch): ask for the object itself.
      await runGit(['--git-dir', dir, 'fetch', '--quiet', '--', opts.cloneUrl, sha], left(), remoteEnv).catch(() => undefined);
      fetched = true;
    }
    if (!(await hasCommit(dir, sha, left()))) {
      throw new Error(`commit ${sha} not found in ${redact(opts.cloneUrl)}`);
    }
    rememberVerified(dir, sha);
    return { dir, cloned, fetched };
  });
}

/** Clones beside the target and renames, so a crash never leaves a half mirror under the real name. */
async function cloneMirror(url: string, dir: string, timeoutMs: number, env: Record<string, string>): Promise<void> {
  const tmp = `${dir}.tmp-${randomUUID()}`;
  try {
    await runGit(['clone', '--mirror', '--quiet', '--', url, tmp], timeoutMs, env);
    await rename(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The URL and credentials are passed on every fetch (not only stored at clone
 * time) so a rotated token is picked up. gc runs in the foreground, inside our lock,
 * rather than detached where it could outlive it.
 */
async function fetchRefs(dir: string, url: string, ref: string | undefined, timeoutMs: number, env: Record<string, string>): Promise<void> {
  const refspec = ref && /^refs\/(heads|tags|merge-requests)\/[^\s:~^?*[\\]+$/.test(ref) && !ref.includes('..') ? `+${ref}:${ref}` : '+refs/*:refs/*';
  // --prune only with the full refspec: with one ref it would delete nothing else anyway.
  const prune = refspec === '+refs/*:refs/*' ? ['--prune'] : [];
  const args = ['--git-dir', dir, '-c', 'gc.autoDetach=false', 'fetch', '--quiet', '--no-tags', ...prune, '--', url, refspec];
  await runGit(args, timeoutMs, env);
}

/**
 * One git process answers both "is this a sound bare mirror?" and "does it have the sha?", so a
 * warm sync costs as few process starts as possible (docs/benchmarks.md). --git-dir (not -C) so
 * git never walks up to some parent repository.
 */
async function inspectMirror(dir: string, sha: string, timeoutMs: number): Promise<'broken' | 'has-sha' | 'lacks-sha'> {
  try {
    const out = await runGit(['--git-dir', dir, 'rev-parse', '--is-bare-repository', '--verify', '--quiet', `${sha}^{commit}`], timeoutMs);
    return out.stdout.startsWith('true') ? 'has-sha' : 'broken';
  } catch (err) {
    if (!(err instanceof GitError)) throw err;
    const { stdout, exitCode: code } = err;
    // Exit 1 after printing "true": a sound bare repository that lacks the commit.
    if (code === 1 && stdout.startsWith('true')) return 'lacks-sha';
    if (code === 1) return (await isBareRepo(dir, timeoutMs)) ? 'lacks-sha' : 'broken';
    return 'broken';
  }
}

async function isBareRepo(dir: string, timeoutMs: number): Promise<boolean> {
  const out = await runGit(['--git-dir', dir, 'rev-parse', '--is-bare-repository'], timeoutMs).catch(() => undefined);
  return out?.stdout.trim() === 'true';
}

async function hasCommit(dir: string, sha: string, timeoutMs: number): Promise<boolean> {
  const out = await runGit(['--git-dir', dir, 'cat-file', '-e', `${sha}^{commit}`], timeoutMs).catch(() => undefined);
  return out !== undefined;
}

async function fsckOk(dir: string, timeoutMs: number): Promise<boolean> {
  const out = await runGit(['--git-dir', dir, 'fsck', '--connectivity-only', '--no-progress'], timeoutMs).catch(() => undefined);
  return out !== undefined;
}

/** Leftovers of clones interrupted by a crash (we hold the lock, so none is in progress). */
async function removeTempClones(root: string, name: string): Promise<void> {
  const entries = await readdir(root);
  await Promise.all(entries.filter((e) => e.startsWith(`${name}.tmp-`)).map((e) => rm(join(root, e), { recursive: true, force: true })));
}

// The build job imports everything git from here.
export { archiveStream, exportTree } from './git-export.js';
export type { GitHttpAuth } from './git-exec.js';
