import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { gitOk, runGit } from './git.js';

export interface CommitOptions {
  authorName?: string;
  authorEmail?: string;
  // ISO date; fixed dates make shas reproducible across runs.
  date?: string;
}

// Makes a commit on `branch` of a bare repo and returns its sha. The branch is created (as a root
// commit) when missing, else the commit goes on top of its head. Files not listed are kept from the
// parent. Everything goes through argv arrays, so messages and branch names may be as hostile as a
// test likes (git itself still refuses names check-ref-format rejects).
export async function commitFiles(bareDir: string, branch: string, files: Record<string, string>, message: string, opts: CommitOptions = {}): Promise<string> {
  const ref = `refs/heads/${branch}`;
  if ((await runGit(['check-ref-format', ref])).code !== 0) {
    throw new Error(`invalid branch name: ${JSON.stringify(branch)}`);
  }
  const work = await mkdtemp(join(tmpdir(), 'slipway-worktree-'));
  try {
    // A private index keeps the bare repo untouched until the final update-ref.
    const env: Record<string, string> = { GIT_INDEX_FILE: join(work, '.slipway-index') };
    if (opts.date) Object.assign(env, { GIT_AUTHOR_DATE: opts.date, GIT_COMMITTER_DATE: opts.date });
    const git = (args: string[], input?: string): Promise<string> =>
      gitOk(['--git-dir', bareDir, '--work-tree', work, ...args], input === undefined ? { env, cwd: work } : { env, cwd: work, input });

    const parent = await runGit(['--git-dir', bareDir, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
    const parentSha = parent.code === 0 ? parent.stdout.toString('utf8').trim() : null;
    if (parentSha) await git(['read-tree', parentSha]);

    for (const [path, content] of Object.entries(files)) {
      const abs = resolve(work, path);
      if (!abs.startsWith(work + sep)) throw new Error(`path escapes the work tree: ${path}`);
      await mkdir(dirname(abs), { recursive: true });
      await writeFile(abs, content);
      await git(['add', '--', path]);
    }
    const tree = (await git(['write-tree'])).trim();
    const name = opts.authorName ?? 'Slipway Test';
    const email = opts.authorEmail ?? 'test@slipway.invalid';
    const commitArgs = ['-c', `user.name=${name}`, '-c', `user.email=${email}`, 'commit-tree', tree, '-F', '-'];
    if (parentSha) commitArgs.push('-p', parentSha);
    const sha = (await gitOk(['--git-dir', bareDir, ...commitArgs], { env, input: message })).trim();
    // Compare-and-swap on the old head (all zeros = must not exist) so concurrent commits cannot lose one.
    await gitOk(['--git-dir', bareDir, 'update-ref', ref, sha, parentSha ?? '0'.repeat(40)]);
    return sha;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// Merges branch `source` into branch `target` of a bare repo with a merge commit (first parent: the
// target's head, second: the source's), as GitLab's "merge commit" method does, and returns its sha.
// A conflict fails: tests merge branches that touch different files.
export async function mergeBranch(bareDir: string, source: string, target: string, message: string, opts: CommitOptions = {}): Promise<string> {
  const head = async (branch: string): Promise<string> =>
    (await gitOk(['--git-dir', bareDir, 'rev-parse', '--verify', '--end-of-options', `refs/heads/${branch}^{commit}`])).trim();
  const [targetSha, sourceSha] = [await head(target), await head(source)];
  const tree = (await gitOk(['--git-dir', bareDir, 'merge-tree', '--write-tree', targetSha, sourceSha])).split('\n')[0]?.trim() ?? '';
  const env: Record<string, string> = opts.date ? { GIT_AUTHOR_DATE: opts.date, GIT_COMMITTER_DATE: opts.date } : {};
  const name = opts.authorName ?? 'Slipway Test';
  const email = opts.authorEmail ?? 'test@slipway.invalid';
  const sha = (
    await gitOk(
      ['--git-dir', bareDir, '-c', `user.name=${name}`, '-c', `user.email=${email}`, 'commit-tree', tree, '-p', targetSha, '-p', sourceSha, '-F', '-'],
      { env, input: message },
    )
  ).trim();
  await gitOk(['--git-dir', bareDir, 'update-ref', `refs/heads/${target}`, sha, targetSha]);
  return sha;
}
