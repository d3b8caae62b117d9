import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/registry-client.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../fakes/git-repo.js';
import type { FakeProject } from '../fakes/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, registryFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Layer reuse across runs when this engine has lost everything of the project (a fresh worker or
// a prune): the branch's previous image is pulled and serves as the cache source.
describe('docker layer cache across runs', () => {
  const suffix = randomBytes(3).toString('hex');
  const image = `slipway-test/cache-${suffix}`;
  const registry = registryFromEnv();
  const repository = `${registry}/${image}`;
  const projectId = 16000 + Math.floor(Math.random() * 1000);
  const docker = dockerFromEnv();
  let h: Harness;
  let project: FakeProject;
  let iid = 0;

  const merge = async (app: string) => {
    iid += 1;
    const sha = await commitFiles(project.bareDir, 'main', {
      '.slipway.yml': `build: { image: ${image} }\n`,
      // Unique content, so no other test's layers can stand in for ours.
      Dockerfile: `FROM slipway/busybox:1\nCOPY vendor.txt /vendor.txt\nRUN echo "prepared ${suffix}" > /prepared\nCOPY app.txt /app.txt\n`,
      'vendor.txt': `dependencies of ${suffix}\n`.repeat(200),
      'app.txt': app,
    }, `Merge ${iid}`);
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
    for (const i of mine) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  };

  beforeAll(async () => {
    h = await startHarness({ roles: ['http', 'planner', 'build'] });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/cache-${suffix}`, defaultBranch: 'main' });
  });
  afterAll(async () => {
    await h.stop();
    await removeLocal();
  });

  it('after the local images are gone, pulls the branch image and reuses its unchanged layers', async () => {
    const first = await merge('version 1\n');
    expect(first.status.phase).toBe('succeeded');
    // The branch's first build: no previous image, which is no reason to fail.
    expect((await imageLog(first)).some((l) => l.startsWith(`layer cache: ${repository}:main not available`))).toBe(true);

    await removeLocal();
    expect(await docker.listImages({ filters: { reference: [repository] } })).toEqual([]);

    const second = await merge('version 2\n');
    expect(second.status.phase).toBe('succeeded');
    const log = await imageLog(second);
    expect(log).toContain(`layer cache: pulled ${repository}:main as a cache source`);
    // COPY vendor.txt and the RUN came from the cache; the changed COPY app.txt did not.
    expect(log.filter((l) => l.includes('Using cache'))).toHaveLength(2);
    const one = await layers(first.image?.digest ?? '');
    const two = await layers(second.image?.digest ?? '');
    expect(two).toHaveLength(one.length);
    expect(two.slice(0, -1)).toEqual(one.slice(0, -1));
    expect(two.at(-1)).not.toBe(one.at(-1));
  });
});
