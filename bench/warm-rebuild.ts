/**
 * Warm rebuild benchmark (issue 4): on the synthetic repository served by `git daemon`,
 *  (a) cold, the baseline: a fresh `git clone` (with checkout, on disk), `docker build` of the
 *      directory with no layer cache, and a push to a repository the registry has never seen;
 *  (b) cold on Slipway's own path, a second baseline: syncMirror into an empty mirror root (a
 *      clone), a BuildKit build fed from the mirror with no cache and a shared key the engine has
 *      never seen (every file is sent), a push to a new repository;
 *  (c) warm, Slipway's path after a one-file change: syncMirror fetching the one new commit,
 *      buildImageWithBuildKit from the mirror (the engine asks only for the changed file; its
 *      layer cache and the branch image's inline cache serve the rest), and the image job's push of
 *      the short-sha and branch tags: Slipway's own (pushImageLayers: the layers read from the
 *      engine, new ones gzipped at level 1 and uploaded, the branch image's layers skipped).
 * Warm is measured twice: the change in a file copied by the last layer (BENCH_CHANGE.txt) and in
 * one source file (src/… : the 34 MiB src layer is rebuilt and pushed), and the src change once
 * more with the engine's push (SLIPWAY_IMAGE_PUSH=engine, the path before Slipway pushed itself).
 * Ratios are to the cold medians of the same run.
 *
 *   npx tsx bench/warm-rebuild.ts [--runs 2] [--disk /var/tmp] [--verbose]   (--verbose prints the push's own log)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import { toBuildOptions } from '../src/images/build-options.js';
import { syncMirror } from '../src/git/git-mirror.js';
import { pushImage } from '../src/images/classic-builder.js';
import { pushImageLayers } from '../src/images/layer-push.js';
import { buildImageWithBuildKit } from '../src/buildkit/build.js';
import { followProgress } from '../src/executors/docker-progress.js';
import { makeSyntheticRepo } from './make-repo.js';
import { serveCopy } from './served-repo.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '2' }, disk: { type: 'string', default: '/var/tmp' }, verbose: { type: 'boolean', default: false } },
});
const runs = Number(values.runs);
const docker = new Docker({ socketPath: (process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock').replace(/^unix:\/\//, '') });
const registry = process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050';
const id = `${Date.now().toString(36)}${process.pid}`;
const TIMEOUT_MS = 600_000;
// Layers ordered by how often they change, as any Dockerfile written for a layer cache is.
const DOCKERFILE = 'FROM slipway/busybox:1\nCOPY assets /app/assets\nCOPY docs /app/docs\nCOPY src /app/src\nCOPY BENCH_CHANGE.txt /app/\n';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = process.hrtime.bigint();
  const out = await fn();
  return [Number(process.hrtime.bigint() - t) / 1e6, out];
}
const quiet = (): void => undefined;
const pushLog = (line: string): void => {
  if (values.verbose) console.log(`  push: ${line}`);
};

const repo = await makeSyntheticRepo();
const served = await serveCopy(repo.dir, values.disk);
const work = await mkdtemp(join(values.disk, 'slipway-bench-warm-'));
const warmRepo = `${registry}/bench/warm-${id}`;
const coldRepos: string[] = [];
served.commit({ Dockerfile: DOCKERFILE, 'BENCH_CHANGE.txt': 'v0\n' }, 'add Dockerfile');
const srcFile =
  execFileSync('git', ['--git-dir', served.gitDir, 'ls-tree', '-r', '--name-only', 'main', 'src'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n')[0] ??
  '';

type Phases = { fetch: number; build: number; push: number; total: number; cached: number };

/** (a) What a clone-per-build CI does, with nothing cached anywhere. */
async function cold(n: number): Promise<Phases> {
  const dir = await mkdtemp(join(values.disk, 'slipway-bench-clone-'));
  const image = `${registry}/bench/cold-${id}-${n}`;
  coldRepos.push(image);
  try {
    const [fetch] = await timed(async () => execFileSync('git', ['clone', '-q', served.url, join(dir, 'app')]));
    const [build] = await timed(async () => {
      // The directory as `docker build .` sends it (.git left out, as a .dockerignore would).
      const tar = spawn('tar', ['-C', join(dir, 'app'), '--exclude=./.git', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const context = tar.stdout;
      const abort = new AbortController();
      const opts = {
        ...toBuildOptions({ dockerfile: 'Dockerfile', tags: [`${image}:main`], labels: {}, buildArgs: {} }),
        nocache: true,
        abortSignal: abort.signal,
      };
      await followProgress(docker, await docker.buildImage(context, opts), { timeoutMs: TIMEOUT_MS, abort });
    });
    const [push] = await timed(() => pushImage(docker, { image, tag: 'main', onLog: quiet, timeoutMs: TIMEOUT_MS }));
    return { fetch, build, push, total: fetch + build + push, cached: 0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await docker.getImage(`${image}:main`).remove({ force: true }).catch(quiet);
  }
}

/** (b) Slipway's own path with nothing cached: a mirror clone, every file sent, every step built. */
async function coldSlipway(n: number): Promise<Phases> {
  const root = await mkdtemp(join(values.disk, 'slipway-bench-cold-mirror-'));
  const image = `${registry}/bench/cold-slipway-${id}-${n}`;
  coldRepos.push(image);
  try {
    const sha = served.head();
    const [fetch, mirror] = await timed(() =>
      syncMirror({ root, project: 'bench/app', cloneUrl: served.url, sha, ref: 'refs/heads/main', timeoutMs: TIMEOUT_MS }),
    );
    const [build] = await timed(() =>
      buildImageWithBuildKit(docker, {
        mirrorDir: mirror.dir,
        sha,
        dockerfile: 'Dockerfile',
        sharedKey: `bench/cold-${id}-${n}`,
        noCache: true,
        tags: [`${image}:main`],
        labels: {},
        buildArgs: {},
        timeoutMs: TIMEOUT_MS,
        onLog: quiet,
      }),
    );
    const [push] = await timed(() => pushImageLayers(docker, { image, tags: ['main'], onLog: pushLog, timeoutMs: TIMEOUT_MS, tempRoot: values.disk }));
    return { fetch, build, push, total: fetch + build + push, cached: 0 };
  } finally {
    await rm(root, { recursive: true, force: true });
    await docker.getImage(`${image}:main`).remove({ force: true }).catch(quiet);
  }
}

/** (c) Slipway's image job after one new commit: fetch into the warm mirror, build from git archive, push. */
async function warm(sha: string, push: 'slipway' | 'engine' = 'slipway'): Promise<Phases> {
  const root = join(work, 'mirrors');
  const [fetch, mirror] = await timed(() =>
    syncMirror({ root, project: 'bench/app', cloneUrl: served.url, sha, ref: 'refs/heads/main', timeoutMs: TIMEOUT_MS }),
  );
  let cached = 0;
  const [build] = await timed(async () => {
    const r = await buildImageWithBuildKit(docker, {
      mirrorDir: mirror.dir,
      sha,
      dockerfile: 'Dockerfile',
      sharedKey: 'bench/app',
      tags: [`${warmRepo}:${sha.slice(0, 8)}`, `${warmRepo}:main`],
      labels: { 'org.opencontainers.image.revision': sha },
      buildArgs: {},
      cacheFrom: [`${warmRepo}:main`],
      timeoutMs: TIMEOUT_MS,
      onLog: quiet,
    });
    cached = r.cachedSteps;
  });
  // As the image job pushes: every tag, the branch's last image telling which layers are there.
  const [pushed] = await timed(async () => {
    if (push === 'slipway') {
      await pushImageLayers(docker, {
        image: warmRepo,
        tags: [sha.slice(0, 8), 'main'],
        knownFrom: ['main'],
        onLog: pushLog,
        timeoutMs: TIMEOUT_MS,
        tempRoot: values.disk,
      });
      return;
    }
    await pushImage(docker, { image: warmRepo, tag: sha.slice(0, 8), onLog: quiet, timeoutMs: TIMEOUT_MS });
    await pushImage(docker, { image: warmRepo, tag: 'main', onLog: quiet, timeoutMs: TIMEOUT_MS });
  });
  return { fetch, build, push: pushed, total: fetch + build + pushed, cached };
}

try {
  // The previous run of the branch: mirror, layers and the registry's image exist (not measured).
  await warm(served.head());
  // The engine's push knows a layer is in the registry only from its own earlier push of it: give it one, as its steady state.
  await pushImage(docker, { image: warmRepo, tag: 'main', onLog: quiet, timeoutMs: TIMEOUT_MS });
  const results: Record<'cold' | 'coldSlipway' | 'warmLast' | 'warmSrc' | 'warmSrcEngine', Phases[]> = {
    cold: [],
    coldSlipway: [],
    warmLast: [],
    warmSrc: [],
    warmSrcEngine: [],
  };
  for (let i = 0; i < runs; i++) {
    results.cold.push(await cold(i));
    results.coldSlipway.push(await coldSlipway(i));
    results.warmLast.push(await warm(served.commit({ 'BENCH_CHANGE.txt': `v${i + 1} ${Date.now()}\n` }, `bench ${i}`)));
    results.warmSrc.push(await warm(served.commit({ [srcFile]: `// changed ${i} ${Date.now()}\n` }, `bench src ${i}`)));
    results.warmSrcEngine.push(await warm(served.commit({ [srcFile]: `// changed ${i} engine ${Date.now()}\n` }, `bench src engine ${i}`), 'engine'));
  }
  const m = (k: keyof typeof results, p: keyof Phases): number => median(results[k].map((r) => r[p]));
  const s = (x: number): string => `${(x / 1000).toFixed(3)} s`;
  const pct = (x: number, base: 'cold' | 'coldSlipway'): string => `${((x / m(base, 'total')) * 100).toFixed(1)}%`;
  console.log(`repository: ${repo.files} files, ${repo.commits} commits, pack ${(repo.packBytes / 1024 / 1024).toFixed(1)} MiB; ${runs} runs, medians`);
  console.log('| path | fetch | build | push | total | ratio to cold (docker build) | ratio to cold (Slipway) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const row = (name: string, k: keyof typeof results): void =>
    console.log(
      `| ${name} | ${s(m(k, 'fetch'))} | ${s(m(k, 'build'))} (${m(k, 'cached')} steps from cache) | ${s(m(k, 'push'))} | ${s(m(k, 'total'))} | ${pct(m(k, 'total'), 'cold')} | ${pct(m(k, 'total'), 'coldSlipway')} |`,
    );
  row('cold: clone + `docker build` (classic, no cache) + push to a new repository (baseline 1)', 'cold');
  row(
    "cold: Slipway with nothing cached: mirror clone + BuildKit (no cache, every file sent) + Slipway's push to a new repository (baseline 2)",
    'coldSlipway',
  );
  row("warm: one-file change in the last layer (BENCH_CHANGE.txt), Slipway's push", 'warmLast');
  row(`warm: one-file change in src/ (${srcFile}), Slipway's push`, 'warmSrc');
  row(`warm: one-file change in src/, the engine's push (SLIPWAY_IMAGE_PUSH=engine)`, 'warmSrcEngine');
  const verdict = (k: 'warmLast' | 'warmSrc', base: 'cold' | 'coldSlipway'): string => (m(k, 'total') <= 0.1 * m(base, 'total') ? 'met' : 'NOT met');
  console.log(
    `goal warm ≤ 10% of cold: last-layer change ${verdict('warmLast', 'cold')} (baseline 1), ${verdict('warmLast', 'coldSlipway')} (baseline 2); src change ${verdict('warmSrc', 'cold')} / ${verdict('warmSrc', 'coldSlipway')}`,
  );
  console.log(`raw ms: ${JSON.stringify(results)}`);
} finally {
  await served.stop();
  await rm(work, { recursive: true, force: true });
  const mine = await docker.listImages({ filters: { reference: [`${warmRepo}`] } });
  for (const img of mine) await docker.getImage(img.Id).remove({ force: true }).catch(quiet);
}
