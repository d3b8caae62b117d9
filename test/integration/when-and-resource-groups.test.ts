import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10, "tests that cannot fail today": `when: on_failure` / `always`, `resource_group` and
// the concurrency limits at run time, on real Docker and Redis. Each waiting job says why, in
// the words its run record (and so the API and the run page) shows.
describe('when, resource groups and build limits at run time', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const projectId = 17000 + Math.floor(Math.random() * 1000);
  // Three jobs can be picked at once, two may run: the third one shows the global limit.
  const GLOBAL_LIMIT = 2;

  const push = async (branch: string, files: Record<string, string>) => {
    const sha = await commitFiles(project.bareDir, branch, files, `change on ${branch}`);
    const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return String(res.json['runId']);
  };
  const jobOf = (run: RunRecord | null | undefined, name: string) => run?.jobs.find((j) => j.name === name);
  const logOf = async (runId: string, job: string) => (await h.slipway.store.readLog(runId)).filter((l) => l.job === job).map((l) => l.line);
  /** Polls every job of the runs until one shows `reason` while queued; returns that job's run. */
  const seenWaiting = async (runIds: readonly string[], reason: string, timeoutMs = 60_000) =>
    eventually(async () => {
      for (const id of runIds) {
        const run = await h.slipway.store.get(id);
        if (run?.jobs.some((j) => j.status.phase === 'queued' && j.status.reason === reason)) return id;
      }
      throw new Error(`no job waiting with '${reason}'`);
    }, timeoutMs);
  const interval = (j: JobRecord | undefined) => [Date.parse(j?.startedAt ?? ''), Date.parse(j?.finishedAt ?? '')] as const;

  beforeAll(async () => {
    h = await startHarness({ env: { SLIPWAY_BUILD_CONCURRENCY: '3', SLIPWAY_BUILDS_GLOBAL: String(GLOBAL_LIMIT) } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/when-${suffix}`, defaultBranch: 'main' });
  });
  afterAll(async () => h.stop());

  const whenPipeline = [
    'stages: [test, after]',
    'check:',
    '  stage: test',
    '  image: slipway/busybox:1',
    '  script: ["echo checking; exit $(cat exit-code.txt)"]',
    'cleanup:',
    '  stage: after',
    '  when: always',
    '  image: slipway/busybox:1',
    '  script: [echo cleanup ran]',
    'report-failure:',
    '  stage: after',
    '  when: on_failure',
    '  image: slipway/busybox:1',
    '  script: [echo reporting the failure]',
    'publish:',
    '  stage: after',
    '  image: slipway/busybox:1',
    '  script: [echo publishing]',
    '',
  ].join('\n');

  it('a failing job: on_failure and always jobs run, on_success is skipped with the reason', async () => {
    const runId = await push('when-fails', { '.slipway.yml': whenPipeline, 'exit-code.txt': '3\n' });
    const run = await h.waitForRun(runId);
    expect(Object.fromEntries(run.jobs.map((j) => [j.name, j.status.phase]))).toEqual({
      check: 'failed',
      cleanup: 'success',
      'report-failure': 'success',
      publish: 'skipped',
    });
    expect(jobOf(run, 'publish')?.status.reason).toBe('skipped: check failed');
    expect(run.status).toMatchObject({ phase: 'failed', reason: "job 'check' failed with exit code 3" });
    expect(await logOf(runId, 'cleanup')).toContain('cleanup ran');
    expect(await logOf(runId, 'report-failure')).toContain('reporting the failure');
    // The after-stage jobs started only once check had finished.
    for (const name of ['cleanup', 'report-failure']) expect(interval(jobOf(run, name))[0]).toBeGreaterThanOrEqual(interval(jobOf(run, 'check'))[1]);
    await eventually(() => {
      const last = (job: string) =>
        h.gitlab
          .statuses(projectId, run.request.sha)
          .filter((s) => s.name === `slipway/${job}`)
          .at(-1)?.status;
      expect([last('check'), last('cleanup'), last('report-failure'), last('publish')]).toEqual(['failed', 'success', 'success', 'canceled']);
    });
  });

  it('a passing job: always runs, on_failure is skipped with the reason, on_success runs', async () => {
    const runId = await push('when-passes', { '.slipway.yml': whenPipeline, 'exit-code.txt': '0\n' });
    const run = await h.waitForRun(runId);
    expect(Object.fromEntries(run.jobs.map((j) => [j.name, j.status.phase]))).toEqual({
      check: 'success',
      cleanup: 'success',
      'report-failure': 'skipped',
      publish: 'success',
    });
    expect(jobOf(run, 'report-failure')?.status.reason).toBe('skipped: no earlier job failed (when: on_failure)');
    expect(run.status).toMatchObject({ phase: 'succeeded', reason: 'all jobs passed' });
    expect(await logOf(runId, 'cleanup')).toContain('cleanup ran');
  });

  it('two runs’ jobs in one resource group never overlap; the second says it waits for the group', async () => {
    const pipeline = ['migrate:', '  image: slipway/busybox:1', '  resource_group: db-migrations', '  script: [echo migrating, sleep 3]', ''].join('\n');
    const first = await push('group-a', { '.slipway.yml': pipeline, 'a.txt': 'a\n' });
    const second = await push('group-b', { '.slipway.yml': pipeline, 'b.txt': 'b\n' });
    const waited = await seenWaiting([first, second], 'waiting: resource group db-migrations is busy');
    const runs = await Promise.all([first, second].map((id) => h.waitForRun(id)));
    for (const run of runs) expect(run.status.phase).toBe('succeeded');
    const [a, b] = runs.map((r) => interval(jobOf(r, 'migrate')));
    if (!a || !b) throw new Error('missing job records');
    // One ran after the other: the waiting one started after the other had finished.
    const [earlier, later] = a[0] <= b[0] ? [a, b] : [b, a];
    expect(later[0]).toBeGreaterThanOrEqual(earlier[1]);
    expect(waited).toBe(a[0] <= b[0] ? second : first);
  });

  it(`with a global limit of ${GLOBAL_LIMIT}, the third parallel job waits and says why`, async () => {
    const job = (n: string) => [`${n}:`, '  image: slipway/busybox:1', '  script: [sleep 3]'];
    const runId = await push('global-limit', { '.slipway.yml': [...job('one'), ...job('two'), ...job('three'), ''].join('\n') });
    await seenWaiting([runId], `waiting: ${GLOBAL_LIMIT} build jobs running in all (limit ${GLOBAL_LIMIT})`);
    const run = await h.waitForRun(runId);
    expect(run.status.phase).toBe('succeeded');
    // Never more than two at once: the last to start started after one of the others finished.
    const spans = run.jobs.map(interval).sort((x, y) => x[0] - y[0]);
    const last = spans[2];
    expect(last && spans.slice(0, 2).some(([, end]) => last[0] >= end)).toBe(true);
  });

  it('two runs wanting the same image: one builds, the other waits for it and reuses it', async () => {
    const image = `demo/when-${suffix}`;
    const files = {
      // Built on pushes too (the default is merges and tags), at once (no needs), slowly enough
      // that the second run asks while the first is still building.
      '.slipway.yml': `build: { image: ${image}, needs: [], rules: [{ when: on_success }] }\n`,
      Dockerfile: `FROM slipway/busybox:1\nRUN sleep 4\nCOPY hello.txt /hello.txt\n`,
      'hello.txt': `hello ${suffix}\n`,
    };
    const sha = await commitFiles(project.bareDir, 'image-a', files, 'image work');
    const deliverPush = async (branch: string) => {
      const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch }), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      return String(res.json['runId']);
    };
    execFileSync('git', ['--git-dir', project.bareDir, 'update-ref', 'refs/heads/image-b', sha]);
    const first = await deliverPush('image-a');
    const second = await deliverPush('image-b');
    const waited = await seenWaiting(
      [first, second],
      'waiting: another run is building this image (same commit and build settings); it will be reused',
      90_000,
    );
    const [built, reused] = await Promise.all([first, second].map((id) => h.waitForRun(id, undefined, 120_000)));
    if (!built || !reused) throw new Error('missing runs');
    const [builder, waiter] = waited === first ? [reused, built] : [built, reused];
    expect(waiter.id).toBe(waited);
    expect(jobOf(waiter, 'image')?.status.reason).toBe(`reused from run ${builder.id}: ${builder.image?.ref ?? 'missing'}`);
    expect(waiter.image?.digest).toBe(builder.image?.digest);
  });
});
