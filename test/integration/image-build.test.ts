import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageLabels } from '../../src/images/build-options.js';
import { archiveStream, syncMirror } from '../../src/git/git-mirror.js';
import { buildImage, pushImage } from '../../src/images/classic-builder.js';
import { baseImageFromEnv, dockerFromEnv, registryFromEnv, uniqueId } from '../helpers/services.js';
import { git } from '../helpers/git-cli.js';

const docker = dockerFromEnv();
const registry = registryFromEnv();
const base = mkdtempSync(join(tmpdir(), 'slipway-img-'));
const repo = `${registry}/slipway-test/app-${uniqueId()}`;
const createdImages: string[] = [];
let mirrorDir = '';
let sha = '';

beforeAll(async () => {
  const work = join(base, 'work');
  git(base, 'init', '-q', '-b', 'main', work);
  writeFileSync(join(work, 'Dockerfile'), `FROM ${baseImageFromEnv()}\nARG GREETING\nCOPY hello.txt /hello.txt\nRUN echo "$GREETING" > /greeting.txt\n`);
  writeFileSync(join(work, 'Broken.Dockerfile'), `FROM ${baseImageFromEnv()}\nRUN echo building && exit 3\n`);
  writeFileSync(join(work, 'Unknown.Dockerfile'), `FROM ${baseImageFromEnv()}\nFROBNICATE now\n`);
  writeFileSync(join(work, 'hello.txt'), 'hello');
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'app');
  sha = git(work, 'rev-parse', 'HEAD');
  ({ dir: mirrorDir } = await syncMirror({ root: join(base, 'mirrors'), project: 'g/app', cloneUrl: work, sha, timeoutMs: 20_000 }));
});

afterAll(async () => {
  rmSync(base, { recursive: true, force: true });
  for (const id of createdImages)
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => undefined);
});

describe('image build and push (real engine and registry)', { timeout: 120_000 }, () => {
  it('builds from an archive of the commit, labels it, pushes it and verifies the digest', async () => {
    const logs: string[] = [];
    const { imageId } = await buildImage(docker, {
      context: archiveStream({ mirrorDir, sha }),
      dockerfile: 'Dockerfile',
      tags: [`${repo}:${sha.slice(0, 8)}`, `${repo}:latest`],
      labels: imageLabels({ sha, project: 'g/app', runId: 'run-1' }),
      buildArgs: { GREETING: 'hi there' },
      onLog: (l) => logs.push(l),
      timeoutMs: 90_000,
    });
    createdImages.push(imageId);
    expect(logs).toContainEqual(expect.stringMatching(/^Step 2\/\d+ : ARG GREETING$/));
    const info = await docker.getImage(imageId).inspect();
    expect(info.Config.Labels).toMatchObject({
      'org.opencontainers.image.revision': sha,
      'io.slipway.project': 'g/app',
      'io.slipway.run': 'run-1',
    });
    expect(info.RepoTags).toEqual(expect.arrayContaining([`${repo}:${sha.slice(0, 8)}`, `${repo}:latest`]));

    const pushLogs: string[] = [];
    const { digest } = await pushImage(docker, { image: repo, tag: sha.slice(0, 8), onLog: (l) => pushLogs.push(l), timeoutMs: 60_000 });
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const path = repo.slice(registry.length + 1);
    const res = await fetch(`http://${registry}/v2/${path}/manifests/${sha.slice(0, 8)}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.headers.get('docker-content-digest')).toBe(digest);
  });

  it('names the failing instruction of a broken Dockerfile', async () => {
    const logs: string[] = [];
    await expect(
      buildImage(docker, {
        context: archiveStream({ mirrorDir, sha }),
        dockerfile: 'Broken.Dockerfile',
        tags: [`${repo}:broken`],
        labels: {},
        buildArgs: {},
        onLog: (l) => logs.push(l),
        timeoutMs: 60_000,
      }),
    ).rejects.toThrow(/step "RUN echo building && exit 3" failed: .*returned a non-zero code: 3/);
    expect(logs).toContain('building');
  });

  it('names an unknown instruction', async () => {
    await expect(
      buildImage(docker, {
        context: archiveStream({ mirrorDir, sha }),
        dockerfile: 'Unknown.Dockerfile',
        tags: [`${repo}:unknown`],
        labels: {},
        buildArgs: {},
        onLog: () => undefined,
        timeoutMs: 60_000,
      }),
    ).rejects.toThrow(/image build failed: .*frobnicate/i);
  });

  it('fails when the Dockerfile does not exist', async () => {
    await expect(
      buildImage(docker, {
        context: archiveStream({ mirrorDir, sha }),
        dockerfile: 'Missing.Dockerfile',
        tags: [`${repo}:missing`],
        labels: {},
        buildArgs: {},
        onLog: () => undefined,
        timeoutMs: 60_000,
      }),
    ).rejects.toThrow(/image build failed: .*Missing\.Dockerfile/);
  });
});
