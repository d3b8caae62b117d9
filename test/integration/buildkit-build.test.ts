import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageLabels } from '../../src/images/build-options.js';
import { buildImageWithBuildKit, type BuildKitBuildOptions } from '../../src/buildkit/build.js';
import { syncMirror } from '../../src/git/git-mirror.js';
import { baseImageFromEnv, dockerFromEnv, registryFromEnv, uniqueId } from '../helpers/services.js';
import { git } from '../helpers/git-cli.js';

// The BuildKit image builder against the real engine: the context comes from the mirror over a
// BuildKit session (fsutil DiffCopy), never from a checkout or a tar.
const docker = dockerFromEnv();
const registry = registryFromEnv();
const base = mkdtempSync(join(tmpdir(), 'slipway-bk-'));
const work = join(base, 'work');
const id = uniqueId();
const repo = `${registry}/slipway-test/bk-${id}`;
const created = new Set<string>();
let mirrorDir = '';

const commit = async (files: Record<string, string>, message: string): Promise<string> => {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(work, path, '..'), { recursive: true });
    writeFileSync(join(work, path), content);
  }
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', message);
  const sha = git(work, 'rev-parse', 'HEAD');
  ({ dir: mirrorDir } = await syncMirror({ root: join(base, 'mirrors'), project: 'g/bk', cloneUrl: work, sha, ref: 'refs/heads/main', timeoutMs: 20_000 }));
  return sha;
};

const build = async (sha: string, extra: Partial<BuildKitBuildOptions> = {}) => {
  const logs: string[] = [];
  const result = await buildImageWithBuildKit(docker, {
    mirrorDir,
    sha,
    dockerfile: 'Dockerfile',
    sharedKey: `g/bk-${id}`,
    tags: [`${repo}:${sha.slice(0, 8)}`, `${repo}:main`],
    labels: imageLabels({ sha, project: 'g/bk', runId: 'run-1' }),
    buildArgs: {},
    onLog: (l) => logs.push(l),
    timeoutMs: 90_000,
    ...extra,
  });
  created.add(result.imageId);
  return { ...result, logs, context: result.syncs.filter((s) => s.source === 'context').at(-1) };
};

/** The RUN step's output lines (after the "#N 0.123 " or "#N " prefix). */
const output = (logs: string[]): string[] => logs.map((l) => l.replace(/^#\d+ (\d+\.\d+ )?/, ''));

beforeAll(async () => {
  git(base, 'init', '-q', '-b', 'main', work);
  mkdirSync(join(work, 'bin'), { recursive: true });
  writeFileSync(join(work, 'bin', 'run.sh'), '#!/bin/sh\necho run\n');
  chmodSync(join(work, 'bin', 'run.sh'), 0o755);
  symlinkSync('bin/run.sh', join(work, 'start'));
  await commit(
    {
      Dockerfile: [
        `FROM ${baseImageFromEnv()}`,
        'COPY vendor /app/vendor',
        'COPY . /app',
        // One RUN proves layout, modes, links and ignores inside the built image.
        'RUN cd /app && ls -la bin start && test -x bin/run.sh && test -L start && cat "dir with space/ünï.txt" -- && ! test -e secrets.env && ! test -e node_modules && cat logs/keep.log && ! test -e logs/drop.log && cat app.txt',
      ].join('\n'),
      '.dockerignore': 'secrets.env\nnode_modules\nlogs/*.log\n!logs/keep.log\n',
      'vendor/lib.txt': 'vendored\n',
      'dir with space/ünï.txt': 'unicode ok\n',
      '--': 'a file named like an option\n',
      'secrets.env': 'TOKEN=do-not-ship\n',
      'node_modules/x/index.js': 'module.exports = 1;\n',
      'logs/keep.log': 'kept log\n',
      'logs/drop.log': 'dropped log\n',
      // Unique per run: the engine's cache is content-addressed and outlives test runs.
      'app.txt': `version 1 of ${id}\n`,
    },
    'app',
  );
});

afterAll(async () => {
  rmSync(base, { recursive: true, force: true });
  for (const image of created)
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
});

describe('BuildKit builds from the mirror (real engine)', { timeout: 180_000 }, () => {
  it('builds the commit with its modes, links and .dockerignore, labelled and tagged', async () => {
    const sha = git(work, 'rev-parse', 'HEAD');
    const r = await build(sha);
    const out = output(r.logs);
    expect(out).toContain('unicode ok');
    expect(out).toContain('kept log');
    expect(r.logs.some((l) => /ERROR/.test(l))).toBe(false);
    const info = await docker.getImage(r.imageId).inspect();
    expect(info.Config.Labels).toMatchObject({ 'org.opencontainers.image.revision': sha, 'io.slipway.project': 'g/bk', 'io.slipway.run': 'run-1' });
    expect(info.RepoTags).toEqual(expect.arrayContaining([`${repo}:${sha.slice(0, 8)}`, `${repo}:main`]));
  });

  it('after a one-file change sends only that file and reuses the steps before it', async () => {
    const sha = await commit({ 'app.txt': `version 2 of ${id}\n` }, 'change one file');
    const r = await build(sha);
    // The engine kept the context of the previous build under the shared key.
    expect(r.context?.filesSent).toBe(1);
    expect(r.context?.bytesSent).toBe(`version 2 of ${id}\n`.length);
    expect(r.context?.entries).toBeGreaterThan(8);
    expect(r.logs).toContainEqual(expect.stringMatching(/^#\d+ CACHED$/));
    expect(output(r.logs)).toContain(`version 2 of ${id}`);
    expect(r.cachedSteps).toBeGreaterThanOrEqual(1); // COPY vendor
  });

  it('builds a Dockerfile below a context directory, and a generated (template) Dockerfile', async () => {
    const sha = await commit(
      {
        'services/api/docker/Dockerfile': `FROM ${baseImageFromEnv()}\nCOPY main.txt /main.txt\nRUN cat /main.txt\n`,
        'services/api/main.txt': `api main ${id}\n`,
      },
      'api service',
    );
    const sub = await build(sha, { contextDir: 'services/api', dockerfile: 'docker/Dockerfile', sharedKey: `g/bk-${id}:api` });
    expect(output(sub.logs)).toContain(`api main ${id}`);
    const templated = await build(sha, {
      contextDir: 'services/api',
      sharedKey: `g/bk-${id}:api`,
      dockerfileContent: `FROM ${baseImageFromEnv()}\nCOPY main.txt /m\nRUN echo "template saw $(cat /m)"\n`,
    });
    expect(output(templated.logs)).toContain(`template saw api main ${id}`);
  });

  it('reads a Dockerfile that is a symlink (the engine asks for it as a followpath)', async () => {
    symlinkSync('docker/real.Dockerfile', join(work, 'Linked.Dockerfile'));
    const sha = await commit({ 'docker/real.Dockerfile': `FROM ${baseImageFromEnv()}\nRUN echo "linked ${id}"\n` }, 'linked Dockerfile');
    const r = await build(sha, { dockerfile: 'Linked.Dockerfile' });
    expect(output(r.logs)).toContain(`linked ${id}`);
  });

  it('a missing Dockerfile is named with its path and the commit, before the engine is asked', async () => {
    const sha = git(work, 'rev-parse', 'HEAD');
    await expect(build(sha, { contextDir: 'services/api', dockerfile: 'Nope.Dockerfile' })).rejects.toThrow(
      `there is no services/api/Nope.Dockerfile in commit ${sha.slice(0, 8)}`,
    );
  });

  it('a failing step fails the build with the step and its exit code, and its output in the log', async () => {
    const sha = await commit({ 'Broken.Dockerfile': `FROM ${baseImageFromEnv()}\nRUN echo about to fail && exit 3\n` }, 'broken');
    const logs: string[] = [];
    await expect(build(sha, { dockerfile: 'Broken.Dockerfile', onLog: (l) => logs.push(l) })).rejects.toThrow(
      /step "\[2\/2\] RUN echo about to fail && exit 3" failed: .*exit code: 3/,
    );
    expect(output(logs)).toContain('about to fail');
  });

  it('stops at the deadline with a clear error instead of waiting for the step', async () => {
    const sha = await commit({ 'Slow.Dockerfile': `FROM ${baseImageFromEnv()}\nRUN sleep 60\n` }, 'slow');
    const started = Date.now();
    await expect(build(sha, { dockerfile: 'Slow.Dockerfile', timeoutMs: 3_000, tags: [`${repo}:slow`] })).rejects.toThrow(/timed out/);
    expect(Date.now() - started).toBeLessThan(20_000);
    await expect(docker.getImage(`${repo}:slow`).inspect()).rejects.toThrow();
  });
});
