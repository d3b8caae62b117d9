import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startGitDaemon } from './git-daemon.js';

const AUTHOR = { GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@e', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@e' };

export interface ServedRepo {
  /** git:// URL of the served copy. */
  url: string;
  gitDir: string;
  head(): string;
  /** One new commit on main that writes `files` (paths may be nested); returns its sha. */
  commit(files: Record<string, string>, message: string): string;
  stop(): Promise<void>;
}

/**
 * A hard-linked bare copy of `source` (so new commits never touch the cached synthetic repo),
 * served by `git daemon` on loopback, with a way to add commits on main.
 */
export async function serveCopy(source: string, workRoot: string): Promise<ServedRepo> {
  const work = await mkdtemp(join(workRoot, 'slipway-bench-served-'));
  const served = join(work, 'served');
  await mkdir(served);
  const gitDir = join(served, 'app.git');
  execFileSync('git', ['clone', '-q', '--bare', '--local', source, gitDir]);
  const daemon = await startGitDaemon(served);
  const git = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}): string =>
    execFileSync('git', ['--git-dir', gitDir, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...opts.env },
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    }).trim();
  return {
    url: daemon.url('app.git'),
    gitDir,
    head: () => git(['rev-parse', 'main']),
    commit(files, message) {
      // A private index: read main's tree, replace the files, write a new tree.
      const index = { GIT_INDEX_FILE: join(work, 'index') };
      const parent = git(['rev-parse', 'main']);
      git(['read-tree', parent], { env: index });
      for (const [path, content] of Object.entries(files)) {
        const blob = git(['hash-object', '-w', '--stdin'], { input: content });
        git(['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`], { env: index });
      }
      const tree = git(['write-tree'], { env: index });
      const sha = git(['commit-tree', tree, '-p', parent, '-m', message], { env: AUTHOR });
      git(['update-ref', 'refs/heads/main', sha]);
      return sha;
    },
    async stop() {
      daemon.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
