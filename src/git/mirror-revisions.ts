import { join } from 'node:path';
import { withFileLock } from './file-lock.js';
import { GitError, httpAuthEnv, runGit, type GitHttpAuth } from './git-exec.js';
import { mirrorDirName } from './mirror-path.js';
import { assertSha } from './sha.js';

/**
 * Revisions a diff is taken against (`rules: changes` of merge requests and merges): a branch head
 * fetched into the mirror, a merge base, a commit's parents. Branch names come from webhook payloads
 * (attacker-controlled): they are checked with `git check-ref-format` and only ever reach git inside
 * a refspec that starts with `+` or after `--end-of-options`; every other revision is a full SHA.
 */

const SHA_LINE = /^[0-9a-f]{40}$/;

export interface FetchBranchOptions {
  /** Workspace root holding one bare mirror per project (as for syncMirror). */
  root: string;
  /** GitLab path_with_namespace. */
  project: string;
  /** May carry a token; passed per call, redacted from errors. */
  cloneUrl: string;
  /** A branch name, e.g. a merge request's target branch ("main", not "refs/heads/main"). */
  branch: string;
  /** Bounds the wait for the mirror's lock and the fetch. */
  timeoutMs: number;
  /** Credentials for http(s) URLs, sent as a header through git's environment (never argv). */
  auth?: GitHttpAuth;
}

/**
 * Brings `refs/heads/<branch>` of the project's existing mirror up to date with the remote (syncMirror
 * fetches only the run's own ref) and returns the SHA it points at. Under the mirror's lock, so it
 * never races a sync. Throws with the reason when the name is not a valid branch or the fetch fails
 * (e.g. the branch was deleted).
 */
export async function fetchBranchHead(opts: FetchBranchOptions): Promise<string> {
  if (opts.cloneUrl.startsWith('-')) throw new Error('clone URL must not start with "-"');
  const ref = `refs/heads/${opts.branch}`;
  if (!(await validRefName(ref, opts.timeoutMs))) {
    throw new Error(`not a valid branch name: ${JSON.stringify(opts.branch.slice(0, 80))}`);
  }
  const dir = join(opts.root, mirrorDirName(opts.project));
  const deadline = Date.now() + opts.timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  return withFileLock(`${dir}.lock`, { timeoutMs: opts.timeoutMs }, async () => {
    const remoteEnv = opts.auth && /^https?:\/\//i.test(opts.cloneUrl) ? httpAuthEnv(opts.cloneUrl, opts.auth) : {};
    await runGit(['--git-dir', dir, '-c', 'gc.autoDetach=false', 'fetch', '--quiet', '--no-tags', '--', opts.cloneUrl, `+${ref}:${ref}`], left(), remoteEnv);
    const out = await runGit(['--git-dir', dir, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], left());
    const sha = out.stdout.trim();
    if (!SHA_LINE.test(sha)) throw new Error(`branch ${JSON.stringify(opts.branch)} did not resolve to a commit`);
    return sha;
  });
}

/** The best common ancestor of two commits (`git merge-base`), undefined when they share no history. */
export async function mergeBase(mirrorDir: string, a: string, b: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const out = await runGit(['--git-dir', mirrorDir, 'merge-base', assertSha(a), assertSha(b)], timeoutMs);
    const sha = out.stdout.trim();
    return SHA_LINE.test(sha) ? sha : undefined;
  } catch (err) {
    // Exit 1 without output: no common ancestor (unrelated histories).
    if (err instanceof GitError && err.exitCode === 1) return undefined;
    throw err;
  }
}

/** A commit's parents in order (first parent first); [] for a root commit. */
export async function parentsOf(mirrorDir: string, sha: string, timeoutMs: number): Promise<string[]> {
  const out = await runGit(['--git-dir', mirrorDir, 'rev-list', '--parents', '--max-count=1', assertSha(sha), '--'], timeoutMs);
  const [self, ...parents] = out.stdout.trim().split(' ');
  if (self !== sha || !parents.every((p) => SHA_LINE.test(p))) throw new Error(`unexpected rev-list output for ${sha}`);
  return parents;
}

async function validRefName(ref: string, timeoutMs: number): Promise<boolean> {
  return runGit(['check-ref-format', ref], timeoutMs).then(
    () => true,
    () => false,
  );
}
