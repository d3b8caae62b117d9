/**
 * Mirror benchmark (issue 4): on one synthetic repository served by `git daemon` on loopback,
 *  1. a full clone (the baseline) against syncMirror fetching one new commit into a warm mirror;
 *  2. exportTree (checkout into a directory) on disk and on tmpfs against archiveStream (the tar
 *     that feeds an image build, no checkout at all).
 * Everything is measured in the same run and printed as ratios to its baseline (median of --runs).
 *
 *   npx tsx bench/mirror-fetch.ts [--runs 3] [--disk /var/tmp] [--tmpfs /dev/shm]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { archiveStream, exportTree, syncMirror } from '../src/git/git-mirror.js';
import { startGitDaemon } from './git-daemon.js';
import { makeSyntheticRepo } from './make-repo.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, disk: { type: 'string', default: '/var/tmp' }, tmpfs: { type: 'string', default: '/dev/shm' } },
});
const runs = Number(values.runs);

const git = (...args: string[]): string => execFileSync('git', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const repo = await makeSyntheticRepo();
const work = await mkdtemp(join(values.disk, 'slipway-bench-run-'));
const served = join(work, 'served');
await mkdir(served);
// A hard-linked copy, so new commits never touch the cached repository.
git('clone', '-q', '--bare', '--local', repo.dir, join(served, 'app.git'));
const daemon = await startGitDaemon(served);
const url = daemon.url('app.git');

/** One new commit on main changing one file, written into the served repository. */
function pushOneCommit(n: number): string {
  const dir = join(served, 'app.git');
  const blob = execFileSync('git', ['--git-dir', dir, 'hash-object', '-w', '--stdin'], { input: `change ${n} ${Date.now()}\n` })
    .toString()
    .trim();
  const parent = git('--git-dir', dir, 'rev-parse', 'main');
  const entries = git('--git-dir', dir, 'ls-tree', parent)
    .split('\n')
    .filter((l) => !l.endsWith('\tBENCH_CHANGE.txt'));
  const tree = execFileSync('git', ['--git-dir', dir, 'mktree'], { input: `${[...entries, `100644 blob ${blob}\tBENCH_CHANGE.txt`].join('\n')}\n` })
    .toString()
    .trim();
  const env = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@e', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@e' };
  const sha = execFileSync('git', ['--git-dir', dir, 'commit-tree', tree, '-p', parent, '-m', `bench ${n}`], { env })
    .toString()
    .trim();
  git('--git-dir', dir, 'update-ref', 'refs/heads/main', sha);
  return sha;
}

try {
  const results: Record<string, number[]> = { fullClone: [], clone: [], fetch: [], exportDisk: [], exportTmpfs: [], archive: [] };
  for (let i = 0; i < runs; i++) {
    // What a clone-per-build CI (Jenkins' default checkout) does: clone and check out, on disk.
    const full = await mkdtemp(join(values.disk, 'slipway-bench-clone-'));
    results['fullClone']?.push(await timed(() => Promise.resolve(git('clone', '-q', url, join(full, 'app')))));
    await rm(full, { recursive: true, force: true });
    const dest = join(work, `clone-${i}`);
    results['clone']?.push(await timed(() => Promise.resolve(git('clone', '-q', '--mirror', url, dest))));
    await rm(dest, { recursive: true, force: true });
  }
  const root = join(work, 'mirrors');
  const first = await syncMirror({
    root,
    project: 'bench/app',
    cloneUrl: url,
    sha: git('--git-dir', join(served, 'app.git'), 'rev-parse', 'main'),
    timeoutMs: 600_000,
  });
  for (let i = 0; i < runs; i++) {
    const sha = pushOneCommit(i);
    results['fetch']?.push(await timed(() => syncMirror({ root, project: 'bench/app', cloneUrl: url, sha, ref: 'refs/heads/main', timeoutMs: 600_000 })));
  }
  const sha = git('--git-dir', first.dir, 'rev-parse', 'main');
  for (let i = 0; i < runs; i++) {
    for (const [name, base] of [
      ['exportDisk', values.disk],
      ['exportTmpfs', values.tmpfs],
    ] as const) {
      const dest = await mkdtemp(join(base, 'slipway-bench-tree-'));
      results[name]?.push(await timed(() => exportTree({ mirrorDir: first.dir, sha, dest })));
      await rm(dest, { recursive: true, force: true });
    }
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    results['archive']?.push(await timed(() => pipeline(archiveStream({ mirrorDir: first.dir, sha }), sink)));
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<string, number>;
  const ms = (x: number | undefined): string => `${((x ?? NaN) / 1000).toFixed(3)} s`;
  const pct = (a: number | undefined, b: number | undefined): string => `${(((a ?? NaN) / (b ?? NaN)) * 100).toFixed(1)}%`;
  console.log(`repository: ${repo.files} files, ${repo.commits} commits, pack ${(repo.packBytes / 1024 / 1024).toFixed(1)} MiB; ${runs} runs, medians`);
  console.log('| measurement | median | ratio to baseline |');
  console.log('| --- | --- | --- |');
  console.log(`| full clone with checkout over git:// to ${values.disk} (baseline 1) | ${ms(m['fullClone'])} | 100% |`);
  console.log(`| clone --mirror over git:// (no checkout) | ${ms(m['clone'])} | ${pct(m['clone'], m['fullClone'])} |`);
  console.log(
    `| syncMirror: fetch of one new commit | ${ms(m['fetch'])} | ${pct(m['fetch'], m['fullClone'])} of a full clone (goal ≤ 5%); ${pct(m['fetch'], m['clone'])} of a mirror clone |`,
  );
  console.log(`| exportTree to disk (${values.disk}) (baseline 2) | ${ms(m['exportDisk'])} | 100% |`);
  console.log(`| exportTree to tmpfs (${values.tmpfs}) | ${ms(m['exportTmpfs'])} | ${pct(m['exportTmpfs'], m['exportDisk'])} |`);
  console.log(`| archiveStream, no checkout (build context) | ${ms(m['archive'])} | ${pct(m['archive'], m['exportDisk'])} |`);
  console.log(`raw ms: ${JSON.stringify(results)}`);
} finally {
  daemon.stop();
  await rm(work, { recursive: true, force: true });
}
