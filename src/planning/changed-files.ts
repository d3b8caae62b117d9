import { execFile } from 'node:child_process';

/**
 * Inputs for `changes:` and `exists:` from a bare git mirror. argv arrays via execFile, never a
 * shell; SHAs are checked before they reach git, so a ref cannot pose as an option.
 */
const ZERO_SHA = /^0+$/;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const MAX_BUFFER = 64 * 1024 * 1024;

function git(dir: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      ['--git-dir', dir, ...args],
      { timeout: timeoutMs, maxBuffer: MAX_BUFFER, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } },
      (err, stdout) => {
        if (err) reject(err);
        else resolve(stdout);
      },
    );
  });
}

const splitZ = (out: string) => out.split('\0').filter((p) => p !== '');

/**
 * Files changed between two commits (`git diff --name-only -z before after`), renames as their
 * new path. undefined when there is no usable base (new branch: all-zero or missing `before`):
 * then `changes:` holds, as in GitLab.
 */
export async function changedFilesFromMirror(mirrorDir: string, before: string | undefined, after: string, timeoutMs = 30_000): Promise<string[] | undefined> {
  if (before === undefined || ZERO_SHA.test(before) || !SHA.test(before) || !SHA.test(after)) return undefined;
  return splitZ(await git(mirrorDir, ['diff', '--name-only', '-z', '--no-renames', before, after, '--'], timeoutMs));
}

/** Every file in the tree at `sha` (`git ls-tree -r --name-only -z`), for `exists:`. */
export async function repoFilesFromMirror(mirrorDir: string, sha: string, timeoutMs = 30_000): Promise<string[]> {
  if (!SHA.test(sha)) throw new Error(`not a commit SHA: ${sha.slice(0, 80)}`);
  return splitZ(await git(mirrorDir, ['ls-tree', '-r', '--name-only', '-z', sha], timeoutMs));
}
