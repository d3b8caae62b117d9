import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, openMergeRequestEvent, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10, bugs 1 and 2: what makes a pipeline is project + SHA + kind + ref. A merge request's
// pipeline is its own run (ref refs/merge-requests/<iid>/head) even when its branch's push already
// ran at the same SHA; the same SHA on another branch is another pipeline. The image of one SHA
// with the same build settings is built once and reused.
describe('webhook: the ref and the merge request are part of a pipeline’s identity', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const projectId = 15000 + Math.floor(Math.random() * 1000);
  const image = `demo/identity-${suffix}`;
  const pipeline = [
    'test:',
    '  image: slipway/busybox:1',
    '  script: ["echo event=$SLIPWAY_EVENT"]',
    'mr-check:',
    '  image: slipway/busybox:1',
    '  rules: [{ if: \'$SLIPWAY_EVENT == "mr"\' }]',
    '  script: [\'echo "MR !$SLIPWAY_MR_IID from $SLIPWAY_MR_SOURCE_BRANCH into $SLIPWAY_MR_TARGET_BRANCH"\']',
    // Built in branch and merge-request pipelines alike, so both runs of one SHA ask for it.
    `build: { image: ${image}, rules: [{ when: on_success }] }`,
    '',
  ].join('\n');
  const files = { '.slipway.yml': pipeline, Dockerfile: 'FROM slipway/busybox:1\nCOPY hello.txt /hello.txt\n', 'hello.txt': `hello ${suffix}\n` };

  const logOf = async (run: RunRecord, job: string) => (await h.slipway.store.readLog(run.id)).filter((l) => l.job === job).map((l) => l.line);
  const jobNames = (run: RunRecord) => run.jobs.map((j) => j.name).sort();

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/identity-${suffix}`, defaultBranch: 'main' });
  });
  afterAll(async () => h.stop());

  it('push first, then the merge request: the MR gets its own pipeline with its jobs, variables and note, and the image is not built twice', async () => {
    const sha = await commitFiles(project.bareDir, 'feature2', files, 'feature work');
    const pushed = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch: 'feature2' }), WEBHOOK_SECRET);
    expect(pushed.status).toBe(202);
    const pushRun = await h.waitForRun(String(pushed.json['runId']), undefined, 120_000);
    expect(pushRun.status.phase).toBe('succeeded');
    expect(jobNames(pushRun)).toEqual(['image', 'test']);

    const opened = await deliver(
      h.url,
      'Merge Request Hook',
      openMergeRequestEvent({ projectId, path: project.pathWithNamespace, sha, iid: 7, sourceBranch: 'feature2' }),
      WEBHOOK_SECRET,
    );
    expect(opened.status).toBe(202);
    expect(opened.json).not.toHaveProperty('duplicateOf');
    const mrRunId = String(opened.json['runId']);
    expect(mrRunId).not.toBe(pushRun.id);
    const mrRun = await h.waitForRun(mrRunId, undefined, 120_000);
    expect(mrRun.status.phase).toBe('succeeded');
    expect(mrRun.request).toMatchObject({ event: 'mr', sha, mergeRequest: { iid: 7, sourceBranch: 'feature2' } });
    expect(jobNames(mrRun)).toEqual(['image', 'mr-check', 'test']);
    expect(await logOf(mrRun, 'mr-check')).toContain('MR !7 from feature2 into main');

    // Same SHA, same build settings: the MR run takes the push run's image instead of building it again.
    expect(mrRun.image?.digest).toBe(pushRun.image?.digest);
    expect(mrRun.jobs.find((j) => j.name === 'image')?.status.reason).toContain(`reused from run ${pushRun.id}`);

    // The MR's one note describes the MR run; the push run was neither canceled nor rewritten.
    await eventually(() => {
      const notes = h.gitlab.notes(projectId, 7);
      expect(notes).toHaveLength(1);
      expect(notes[0]?.body).toContain(`Slipway run [${mrRunId}]`);
      expect(notes[0]?.body).toContain('succeeded');
    });
    expect((await h.slipway.store.get(pushRun.id))?.status.phase).toBe('succeeded');
  });

  it('the same SHA pushed to a new branch gets its own pipeline and statuses for that branch', async () => {
    const sha = await commitFiles(project.bareDir, 'feature3', files, 'more work');
    const first = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch: 'feature3' }), WEBHOOK_SECRET);
    expect(first.status).toBe(202);
    execFileSync('git', ['--git-dir', project.bareDir, 'update-ref', 'refs/heads/release-1', sha]);
    const release = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch: 'release-1' }), WEBHOOK_SECRET);
    expect(release.status).toBe(202);
    expect(release.json).not.toHaveProperty('duplicateOf');
    expect(release.json['runId']).not.toBe(first.json['runId']);
    const run = await h.waitForRun(String(release.json['runId']), undefined, 120_000);
    expect(run.status.phase).toBe('succeeded');
    expect(run.request.ref).toBe('release-1');
    await eventually(() =>
      expect(
        h.gitlab
          .statuses(projectId, sha)
          .filter((s) => s.name === 'slipway/test' && s.ref === 'release-1')
          .at(-1)?.status,
      ).toBe('success'),
    );
    // Both asked for the image at once: one built it, the other waited and took it.
    const firstRun = await h.waitForRun(String(first.json['runId']), undefined, 120_000);
    expect(firstRun.image?.digest).toBe(run.image?.digest);
    const reasons = [firstRun, run].map((r) => r.jobs.find((j) => j.name === 'image')?.status.reason ?? '');
    expect(reasons.filter((r) => r.startsWith('reused from run '))).toHaveLength(1);
  });

  it('a merge request pipeline does not auto-cancel its branch pipeline: they run for different refs', async () => {
    const slow = 'slow:\n  image: slipway/busybox:1\n  interruptible: true\n  script: ["sleep 3"]\n';
    const sha = await commitFiles(project.bareDir, 'feature5', { '.slipway.yml': slow }, 'slow work');
    const pushed = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch: 'feature5' }), WEBHOOK_SECRET);
    const pushRunId = String(pushed.json['runId']);
    await eventually(async () => expect((await h.slipway.store.get(pushRunId))?.jobs.find((j) => j.name === 'slow')?.status.phase).toBe('running'), 30_000);
    const opened = await deliver(
      h.url,
      'Merge Request Hook',
      openMergeRequestEvent({ projectId, path: project.pathWithNamespace, sha, iid: 9, sourceBranch: 'feature5' }),
      WEBHOOK_SECRET,
    );
    const mrRun = await h.waitForRun(String(opened.json['runId']), undefined, 60_000);
    expect(mrRun.status.phase).toBe('succeeded');
    expect((await h.waitForRun(pushRunId, undefined, 60_000)).status.phase).toBe('succeeded');
  });

  it('a resent merge request event for the same commit still makes no second MR pipeline', async () => {
    const sha = await commitFiles(project.bareDir, 'feature4', files, 'even more work');
    const event = () => openMergeRequestEvent({ projectId, path: project.pathWithNamespace, sha, iid: 8, sourceBranch: 'feature4' });
    const first = await deliver(h.url, 'Merge Request Hook', event(), WEBHOOK_SECRET);
    // Another delivery (new Idempotency-Key), e.g. a reopen at the same commit: the trigger key joins it.
    const again = await deliver(
      h.url,
      'Merge Request Hook',
      { ...event(), object_attributes: { ...(event()['object_attributes'] as object), action: 'reopen' } },
      WEBHOOK_SECRET,
    );
    expect(again.json).toEqual({ duplicateOf: first.json['runId'] });
    await h.waitForRun(String(first.json['runId']), undefined, 120_000);
  });
});
