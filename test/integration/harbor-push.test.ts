import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/registry-client.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { startFakeHarbor, type FakeHarbor } from '../../src/standins/harbor/harbor-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, registryFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// The image job with Harbor configured: the fake answers the Harbor API, pushes go to the real
// registry (Harbor's registry stands beside its API in the same way).
describe('image job with Harbor', () => {
  const suffix = randomBytes(3).toString('hex');
  const harborProject = `hb-${suffix}`;
  const image = `${harborProject}/web`;
  const registry = registryFromEnv();
  const projectId = 15000 + Math.floor(Math.random() * 1000);
  let harbor: FakeHarbor;
  let h: Harness;
  let project: FakeProject;
  let iid = 0;

  const merge = async (before?: (sha: string) => void) => {
    iid += 1;
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': `build: { image: ${image} }\n`,
        Dockerfile: 'FROM slipway/busybox:1\nCOPY index.html /www/index.html\n',
        'index.html': `<h1>${suffix} ${iid}</h1>\n`,
      },
      `Merge ${iid}`,
    );
    before?.(sha);
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { sha, run: await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 120_000) };
  };

  beforeAll(async () => {
    harbor = await startFakeHarbor();
    h = await startHarness({
      roles: ['http', 'planner', 'build'],
      env: { HARBOR_URL: harbor.url, SLIPWAY_REGISTRY_USERNAME: 'robot$ci+push', SLIPWAY_REGISTRY_PASSWORD: 'robot-secret' },
    });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/web-${suffix}`, defaultBranch: 'main' });
  });
  afterAll(async () => {
    await h.stop();
    await harbor.close();
    const docker = dockerFromEnv();
    const mine = await docker.listImages({ filters: { reference: [`${registry}/${image}`] } });
    await Promise.all(
      mine.map((i) =>
        docker
          .getImage(i.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  });

  it('creates the missing Harbor project, then pushes to the registry', async () => {
    const { sha, run } = await merge();
    expect(run.jobs.find((j) => j.name === 'image')?.status).toMatchObject({ phase: 'success' });
    expect(run.status.phase).toBe('succeeded');
    expect(harbor.projects()).toEqual([{ name: harborProject, public: false }]);
    // One existence check per tag (short sha and branch), none refused; no call the fake does not know.
    const artifactChecks = harbor.calls.filter((c) => c.path.includes('/artifacts/')).map((c) => decodeURIComponent(c.path.split('/').at(-1) ?? ''));
    expect(artifactChecks).toEqual([sha.slice(0, 8), 'main']);
    expect(harbor.unexpectedCalls()).toEqual([]);
    expect(harbor.calls.every((c) => c.status !== 401)).toBe(true);
    const pushed = await new RegistryClient({ registry, timeoutMs: 10_000 }).headManifest(image, sha.slice(0, 8));
    expect(pushed?.digest).toBe(run.image?.digest);
  });

  it('refuses to overwrite a tag an immutability rule protects, naming the rule, and pushes nothing', async () => {
    harbor.addProject(`${harborProject}-x`); // unrelated project: rules are per project
    const rule = { id: 7, tagPattern: '{main,release-*}' };
    // The fake has no API to add rules to an existing project: re-create ours with the rule.
    harbor.addProject(harborProject, { rules: [rule] });
    harbor.addArtifact(harborProject, 'web', 'main');
    const { sha, run } = await merge();
    const img = run.jobs.find((j) => j.name === 'image');
    expect(img?.status.phase).toBe('failed');
    expect(img?.status.reason).toBe(`not pushed: tag ${harborProject}/web:main already exists and is immutable (Harbor rule 7: matches {main,release-*})`);
    expect(run.status.phase).toBe('failed');
    expect(harbor.calls.filter((c) => c.method === 'POST')).toHaveLength(1); // only the first test's create
    // Refused before the build: not even the short-sha tag (which no rule covers) reached the registry.
    expect(await new RegistryClient({ registry, timeoutMs: 10_000 }).headManifest(image, sha.slice(0, 8))).toBeUndefined();
  });
});
