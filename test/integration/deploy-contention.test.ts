import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleServiceFiles } from '../../src/cli/sample-service.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Two runs of one project deploying the same service to the same environment (pre), through the
// running Slipway: real Redis, Docker engine, registry and git; GitLab is the stand-in. The tests
// hold one run at a chosen step by making that step wait for a file that the test then creates
// inside the step's container (`docker exec`), so the order of events is the test's, not the
// machine's load.
describe('two runs deploying to one environment', () => {
  let h: Harness;
  let project: FakeProject;
  let docker: Docker;
  const suffix = randomBytes(3).toString('hex');
  const service = `race-${suffix}`;
  const projectId = 60000 + Math.floor(Math.random() * 4000);
  const port = slotPortBase(7);
  let iid = 0;

  /** Commits the files on main and delivers GitLab's merge event; resolves once the run exists. */
  const merge = async (files: Record<string, string>, message: string) => {
    const sha = await commitFiles(project.bareDir, 'main', files, message);
    iid += 1;
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { sha, iid, runId: String(res.json['runId']) };
  };
  /** The run as a user reads it: through Slipway's API. */
  const runOf = async (runId: string) => (await h.api<RunRecord>(`/api/runs/${runId}`)).body;
  const jobOf = async (runId: string, name: string) => (await runOf(runId)).jobs.find((j) => j.name === name);
  const page = async (url: string) => (await fetch(url)).text();
  /** The one running container carrying every label given. */
  const containerWith = async (labels: Record<string, string>) =>
    eventually(async () => {
      const found = await docker.listContainers({ filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } });
      expect(found).toHaveLength(1);
      return docker.getContainer(found[0]?.Id ?? '');
    }, 60_000);
  /** Runs a shell command inside a container and checks that it exited 0. */
  const execIn = async (container: Docker.Container, script: string) => {
    const exec = await container.exec({ Cmd: ['/bin/sh', '-c', script], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve).on('error', reject).resume();
    });
    expect((await exec.inspect()).ExitCode).toBe(0);
  };

  beforeAll(async () => {
    docker = dockerFromEnv();
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
    await commitFiles(project.bareDir, 'main', { 'README.md': 'hi\n' }, 'Initial commit');
  });
  afterAll(async () => {
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h?.stop();
  });

  it('a deploy that finds the environment locked waits, saying by which run, then replaces that release', async () => {
    // Run X's release answers its health path (/ready) only once the test writes it: until then
    // X's deploy holds the lock on pre.
    const x = await merge(sampleServiceFiles({ port, greeting: `Hello X ${suffix}`, health: '/ready', timeout: '90s' }), 'Merge branch x');
    await eventually(async () => expect((await jobOf(x.runId, 'deploy:pre'))?.status.phase).toBe('running'), 90_000);
    const xRelease = await containerWith({ 'io.slipway.service': service, 'io.slipway.release': x.runId });

    const y = await merge(sampleServiceFiles({ port, greeting: `Hello Y ${suffix}` }), 'Merge branch y');
    await eventually(async () => {
      expect((await jobOf(y.runId, 'deploy:pre'))?.status).toMatchObject({ phase: 'queued', reason: `waiting: pre is being deployed by run ${x.runId}` });
    }, 90_000);
    expect((await jobOf(x.runId, 'deploy:pre'))?.status.phase).toBe('running');

    await execIn(xRelease, 'echo ok > /www/ready');
    const xDone = await h.waitForRun(x.runId);
    const yDone = await h.waitForRun(y.runId);
    expect(xDone.status.phase).toBe('succeeded');
    expect(yDone.status.phase).toBe('succeeded');
    const url = yDone.deployments.find((d) => d.environment === 'pre')?.url ?? '';
    expect(await page(url)).toContain(`Hello Y ${suffix}`);
  });

  it('an older run whose deploy arrives after a newer one is superseded and never applied', async () => {
    // Run A (older) is held in its test job, so its image is built after run B's (newer) deploy.
    const slowTest = (files: Record<string, string>) => ({
      ...files,
      'test/run.sh': `i=0; while [ ! -f release-gate ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n${files['test/run.sh'] ?? ''}`,
    });
    const a = await merge(slowTest(sampleServiceFiles({ port, greeting: `Hello A ${suffix}` })), 'Merge branch a');
    // A was created first (its event was accepted first); its test job now waits for the test.
    const aTest = await containerWith({ 'io.slipway.run': a.runId, 'io.slipway.job': 'unit' });
    const b = await merge(sampleServiceFiles({ port, greeting: `Hello B ${suffix}` }), 'Merge branch b');
    const bDone = await h.waitForRun(b.runId);
    expect(bDone.status.phase).toBe('succeeded');
    const bPre = bDone.deployments.find((d) => d.environment === 'pre');
    expect(await page(bPre?.url ?? '')).toContain(`Hello B ${suffix}`);

    await execIn(aTest, 'touch release-gate');
    await h.waitForRun(a.runId);
    const aDone = await runOf(a.runId);
    const reason = `superseded: run ${b.runId} (newer, pipeline for ${b.sha.slice(0, 8)}) deployed pre at ${bPre?.at ?? '?'}`;
    expect(aDone.jobs.map((j) => [j.name, j.status.phase])).toEqual([
      ['unit', 'success'],
      ['image', 'success'],
      ['deploy:pre', 'canceled'],
    ]);
    expect(aDone.jobs.find((j) => j.name === 'deploy:pre')).toMatchObject({ status: { reason }, supersededBy: b.runId });
    expect(aDone.status).toMatchObject({ phase: 'canceled', reason });
    expect(aDone.deployments).toEqual([]);

    // Never applied: no container of A's release was ever started, and B's release still serves.
    expect(await docker.listContainers({ all: true, filters: { label: [`io.slipway.release=${a.runId}`] } })).toEqual([]);
    expect(await page(bPre?.url ?? '')).toContain(`Hello B ${suffix}`);

    // GitLab sees why: the commit status (GitLab has no "superseded" state) and the MR note.
    await eventually(() => {
      const last = h.gitlab
        .statuses(projectId, a.sha)
        .filter((s) => s.name === 'slipway/deploy:pre')
        .at(-1);
      expect(last).toMatchObject({ status: 'canceled', description: reason });
      expect(h.gitlab.notes(projectId, a.iid)[0]?.body).toContain(reason);
    });
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  });
});
