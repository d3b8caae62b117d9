import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/registry-client.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, registryFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Layer reuse across runs when this engine has lost everything of the project (a fresh worker or
// a prune): the branch's previous image in the registry serves as the cache source. BuildKit (the
// default) reads the image's inline cache from the registry; the classic builder pulls the image.
describe.each([{ builder: 'buildkit' as const }, { builder: 'classic' as const }])('docker layer cache across runs ($builder builder)', ({ builder }) => {
  const suffix = randomBytes(3).toString('hex');
  const image = `slipway-test/cache-${builder}-${suffix}`;
  const registry = registryFromEnv();
  const repository = `${registry}/${image}`;
  const projectId = 16000 + Math.floor(Math.random() * 1000);
  const docker = dockerFromEnv();
  let h: Harness;
  let project: FakeProject;
  let iid = 0;

  const merge = async (app: string) => {
    iid += 1;
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': `build: { image: ${image} }\n`,
        // Unique content, so no other test's layers can stand in for ours.
        Dockerfile: `FROM slipway/busybox:1\nCOPY vendor.txt /vendor.txt\nRUN echo "prepared ${suffix}" > /prepared\nCOPY app.txt /app.txt\n`,
        'vendor.txt': `dependencies of ${suffix}\n`.repeat(200),
        'app.txt': app,
      },
      `Merge ${iid}`,
    );
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 120_000);
  };
  const imageLog = async (run: RunRecord) =>
    (await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`)).body.lines.filter((l) => l.job === 'image').map((l) => l.line);
  const layers = async (digest: string) => {
    const m = await new RegistryClient({ registry, timeoutMs: 10_000 }).getManifest(image, digest);
    return (JSON.parse(m.bytes.toString('utf8')) as { layers: Array<{ digest: string }> }).layers.map((l) => l.digest);
  };
  const removeLocal = async () => {
    const mine = await docker.listImages({ filters: { reference: [repository] } });
    for (const i of mine)
      await docker
        .getImage(i.Id)
        .remove({ force: true })
        .catch(() => undefined);
  };
  /** A fresh worker: BuildKit's own cache (and the copy of the context it keeps) is gone too. */
  const pruneBuildCache = async () => {
    // @types/dockerode lacks `all` (/build/prune?all=true: unused cache records too, not only dangling ones).
    await docker.pruneBuilder({ all: true } as Dockerode.PruneBuilderOptions);
  };
  /** Dockerfile steps the engine reused, by their text (both builders' log formats). */
  const cachedSteps = (log: string[]): string[] => {
    if (builder === 'classic') {
      // "Step 3/5 : RUN …" is followed by " ---> Using cache" when reused.
      return log.flatMap((l, i) => (log[i + 1]?.includes('Using cache') && /^Step \d+\/\d+ : /.test(l) ? [l.replace(/^Step \d+\/\d+ : /, '')] : []));
    }
    const names = new Map<string, string>();
    for (const l of log) {
      const m = /^#(\d+) \[\d+\/\d+\] (.*)$/.exec(l);
      if (m?.[1] && m[2]) names.set(m[1], m[2]);
    }
    return log.flatMap((l) => {
      const n = /^#(\d+) CACHED$/.exec(l)?.[1];
      const name = n ? names.get(n) : undefined;
      return name ? [name] : [];
    });
  };

  beforeAll(async () => {
    h = await startHarness({ roles: ['http', 'planner', 'build'], env: { SLIPWAY_IMAGE_BUILDER: builder } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/cache-${builder}-${suffix}`, defaultBranch: 'main' });
  });
  afterAll(async () => {
    await h.stop();
    await removeLocal();
  });

  it('after the local images (and build cache) are gone, reuses the unchanged layers of the branch image', async () => {
    const first = await merge('version 1\n');
    expect(first.status.phase).toBe('succeeded');
    // The branch's first build: no previous image, which is no reason to fail.
    const firstLog = await imageLog(first);
    expect(firstLog.some((l) => l.startsWith(`layer cache: ${repository}:main not`))).toBe(true);

    await removeLocal();
    if (builder === 'buildkit') await pruneBuildCache();
    expect(await docker.listImages({ filters: { reference: [repository] } })).toEqual([]);

    const second = await merge('version 2\n');
    expect(second.status.phase).toBe('succeeded');
    const log = await imageLog(second);
    expect(log).toContain(
      builder === 'buildkit'
        ? `layer cache: using ${repository}:main (its inline cache) as a cache source`
        : `layer cache: pulled ${repository}:main as a cache source`,
    );
    // COPY vendor.txt and the RUN came from the cache; the changed COPY app.txt did not.
    const reused = cachedSteps(log);
    expect(reused.some((s) => s.startsWith('COPY vendor.txt'))).toBe(true);
    expect(reused.some((s) => s.startsWith('RUN echo'))).toBe(true);
    expect(reused.some((s) => s.startsWith('COPY app.txt'))).toBe(false);
    const one = await layers(first.image?.digest ?? '');
    const two = await layers(second.image?.digest ?? '');
    expect(two).toHaveLength(one.length);
    expect(two.slice(0, -1)).toEqual(one.slice(0, -1));
    expect(two.at(-1)).not.toBe(one.at(-1));

    if (builder === 'buildkit') {
      // With the engine's copy of the context in place again, the next change travels alone.
      const third = await merge('version 3\n');
      expect(third.status.phase).toBe('succeeded');
      expect(await imageLog(third)).toContainEqual(expect.stringMatching(/^build context: \d+ entries, 1 file sent \(10 bytes\)$/));
    }
  });
});
