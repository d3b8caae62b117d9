import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleServiceFiles } from '../../src/cli/sample-service.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';

// GitLab's Environments page (and its DORA metrics) sees what Slipway deployed: a merge's deploy
// job becomes a GitLab deployment through the Deployments API. Real Redis, Docker and registry;
// GitLab is the stand-in.
describe('deploys show up in GitLab environments', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `envs-${suffix}`;
  const projectId = 5000 + Math.floor(Math.random() * 4000);
  const port = slotPortBase(3);
  let iid = 0;

  const merge = async (files: Record<string, string>) => {
    const sha = await commitFiles(project.bareDir, 'main', files, 'Merge branch feature');
    iid += 1;
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { sha, run: await h.waitForRun(String(res.json['runId'])) };
  };

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
    await commitFiles(project.bareDir, 'main', { 'README.md': 'hi\n' }, 'Initial commit');
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
  });

  it('a merge deployed to pre is one GitLab deployment: running, then success, with the SHA and ref', async () => {
    const { sha, run } = await merge(sampleServiceFiles({ port, greeting: `Hello ${suffix}` }));
    expect(run.status.phase).toBe('succeeded');
    const deployments = h.gitlab.deployments(projectId);
    expect(deployments).toHaveLength(1);
    expect(deployments[0]).toMatchObject({ sha, ref: 'main', status: 'success', environment: { name: 'pre' }, statusHistory: ['running', 'success'] });
    // The run record keeps the id, so a later change of the job updates this deployment.
    expect(run.jobs.find((j) => j.name === 'deploy:pre')?.gitlabDeployment).toEqual({ id: deployments[0]?.id, status: 'success' });
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  });

  it('a deploy whose health check fails ends failed in GitLab', async () => {
    const { sha, run } = await merge(sampleServiceFiles({ port, greeting: `Broken ${suffix}`, health: '/no-such-page', timeout: '8s' }));
    expect(run.status.phase).toBe('failed');
    const mine = h.gitlab.deployments(projectId, 'pre').filter((d) => d.sha === sha);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 'failed', statusHistory: ['running', 'failed'] });
  });

  it('GitLab refusing deployments never fails the deploy: the run log says so', async () => {
    // Every attempt (first try and retries) of both creates (at start, again at the end) fails.
    h.gitlab.failNext({ method: 'POST', pathIncludes: '/deployments' }, 500, 20);
    const { sha, run } = await merge(sampleServiceFiles({ port, greeting: `Hello again ${suffix}` }));
    expect(run.status.phase).toBe('succeeded');
    expect(h.gitlab.deployments(projectId).filter((d) => d.sha === sha)).toEqual([]);
    const log = await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`);
    expect(log.body.lines).toContainEqual(
      expect.objectContaining({ job: 'deploy:pre', line: expect.stringContaining("GitLab's environment pre was not updated (running)") }),
    );
  });
});
