import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 4: a newer push to the same branch cancels the older pipeline's interruptible jobs;
// per-project limits make jobs wait, and the waiting job says why.
describe('auto-cancel and concurrency limits', () => {
  let h: Harness;
  let project: FakeProject;
  const projectId = 14000 + Math.floor(Math.random() * 1000);

  const push = async (branch: string, files: Record<string, string>) => {
    const sha = await commitFiles(project.bareDir, branch, files, `change on ${branch}`);
    const body = fixture('push-hook.json') as Record<string, unknown>;
    Object.assign(body, {
      ref: `refs/heads/${branch}`,
      after: sha,
      checkout_sha: sha,
      project: { ...(body['project'] as object), id: projectId, path_with_namespace: project.pathWithNamespace, default_branch: 'main' },
    });
    const res = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { sha, runId: String(res.json['runId']) };
  };
  const job = (run: RunRecord | null, name: string) => run?.jobs.find((j) => j.name === name);

  beforeAll(async () => {
    h = await startHarness({ env: { SLIPWAY_BUILDS_PER_PROJECT: '1', SLIPWAY_BUILD_CONCURRENCY: '2' } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/cancel-${projectId}`, defaultBranch: 'main' });
  });
  afterAll(async () => h.stop());

  it('a newer push cancels the older run: its container stops and GitLab shows canceled', async () => {
    const pipeline = 'slow:\n  image: slipway/busybox:1\n  interruptible: true\n  script: ["sleep $(cat delay.txt)"]\n';
    const first = await push('feature-a', { '.slipway.yml': pipeline, 'delay.txt': '120' });
    await eventually(async () => expect(job(await h.slipway.store.get(first.runId), 'slow')?.status.phase).toBe('running'), 30_000);
    const second = await push('feature-a', { '.slipway.yml': pipeline, 'delay.txt': '0' });

    const older = await h.waitForRun(first.runId, ['canceled', 'failed', 'succeeded'], 30_000);
    expect(older.status.phase).toBe('canceled');
    expect(job(older, 'slow')?.status.reason).toContain(`newer pipeline ${second.runId}`);
    const newer = await h.waitForRun(second.runId);
    expect(newer.status.phase).toBe('succeeded');
    const docker = dockerFromEnv();
    expect(await docker.listContainers({ all: true, filters: { label: [`io.slipway.run=${first.runId}`] } })).toEqual([]);
    await eventually(() =>
      expect(
        h.gitlab
          .statuses(projectId, first.sha)
          .filter((s) => s.name === 'slipway/slow')
          .at(-1)?.status,
      ).toBe('canceled'),
    );
  });

  it('a run with started jobs that are not interruptible is left to finish', async () => {
    const pipeline = 'steady:\n  image: slipway/busybox:1\n  script: ["sleep $(cat delay.txt)"]\n';
    const first = await push('feature-b', { '.slipway.yml': pipeline, 'delay.txt': '3' });
    await eventually(async () => expect(job(await h.slipway.store.get(first.runId), 'steady')?.status.phase).toBe('running'), 30_000);
    const second = await push('feature-b', { '.slipway.yml': pipeline, 'delay.txt': '0' });
    expect((await h.waitForRun(first.runId)).status.phase).toBe('succeeded');
    expect((await h.waitForRun(second.runId)).status.phase).toBe('succeeded');
    const log = await h.slipway.store.readLog(first.runId);
    expect(log.some((l) => l.line.includes('not canceled, it has started jobs that are not interruptible'))).toBe(true);
  });

  it('with a limit of one build per project, the second job waits and says why', async () => {
    const pipeline = ['one:', '  image: slipway/busybox:1', '  script: [sleep 3]', 'two:', '  image: slipway/busybox:1', '  script: [sleep 3]', ''].join('\n');
    const { runId } = await push('feature-c', { '.slipway.yml': pipeline });
    const reason = await eventually(async () => {
      const run = await h.slipway.store.get(runId);
      const waiting = run?.jobs.find((j) => j.status.phase === 'queued' && j.status.reason.startsWith('waiting: project'));
      expect(waiting).toBeDefined();
      return waiting?.status.reason;
    }, 30_000);
    expect(reason).toBe(`waiting: project ${project.pathWithNamespace} has 1 build jobs running (limit 1)`);
    const run = await h.waitForRun(runId);
    expect(run.status.phase).toBe('succeeded');
    const [a, b] = run.jobs;
    // They ran one after the other.
    expect(Date.parse(b?.startedAt ?? '') >= Date.parse(a?.finishedAt ?? '') || Date.parse(a?.startedAt ?? '') >= Date.parse(b?.finishedAt ?? '')).toBe(true);
  });
});
