import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitOk } from '../../src/standins/gitlab/git.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import type { RunSummary } from '../../src/runs/types.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

const PIPELINE = 'unit:\n  image: slipway/busybox:1\n  script: [echo ok]\n';

// GitLab drops webhooks (a push of more than 3 refs sends none; a hook it disabled sends nothing
// for hours). The reconciler finds what was not sent through the GitLab API and runs it once.
describe('no lost events', () => {
  let h: Harness;
  const base = 14000 + Math.floor(Math.random() * 900);

  beforeAll(async () => {
    h = await startHarness({ env: { SLIPWAY_RECONCILE_EVERY_MS: '300', SLIPWAY_RECONCILE_SILENT_AFTER_MS: '1500' } });
  }, 60_000);
  afterAll(async () => h?.stop());

  const runsOf = (projectId: number): Promise<RunSummary[]> => h.slipway.store.list({ projectId });
  const readyz = async () => (await (await fetch(`${h.url}/readyz`)).json()) as { ok: boolean; lostEvents?: string[] };
  const pushed = async (project: FakeProject, sha: string, branch: string) =>
    deliver(h.url, 'Push Hook', pushEvent({ projectId: project.id, path: project.pathWithNamespace, sha, branch }), WEBHOOK_SECRET);

  it('a push GitLab never sent is found and run once; the late webhook makes no second run', async () => {
    const project = await h.gitlab.addProject({ id: base, pathWithNamespace: `team/lost-push-${base}` });
    const first = await commitFiles(project.bareDir, 'main', { '.slipway.yml': PIPELINE }, 'add pipeline');
    const delivered = await pushed(project, first, 'main');
    expect(delivered.status).toBe(202);
    await h.waitForRun(String(delivered.json['runId']));

    // Pushed to GitLab, but no webhook is sent.
    const missed = await commitFiles(project.bareDir, 'main', { 'README.md': 'hello\n' }, 'second commit');
    const found = await eventually(async () => {
      const run = (await runsOf(project.id)).find((r) => r.request.sha === missed);
      expect(run).toBeDefined();
      return run!;
    }, 20_000);
    expect(found.request).toMatchObject({ event: 'push', kind: 'ci', ref: 'main', before: first });
    expect((await h.waitForRun(found.id)).status.phase).toBe('succeeded');
    // Merged MRs are asked for as GitLab's docs define the list (state, updated_after).
    const mrCall = h.gitlab.calls.find((c) => c.path === `/api/v4/projects/${project.id}/merge_requests`);
    expect(mrCall?.query).toMatchObject({ state: 'merged', updated_after: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(h.logs.some((l) => l.includes('no webhook came for') && l.includes(found.id))).toBe(true);

    // The project went quiet while commits arrive: reported once the silence is longer than allowed.
    await eventually(async () => expect((await readyz()).lostEvents?.join('\n')).toContain(`project ${project.pathWithNamespace}: no webhook for`), 10_000);

    // GitLab's webhook for the same push arrives late (a resend): the reconciler's run is that run.
    const late = await pushed(project, missed, 'main');
    expect(late.json).toEqual({ duplicateOf: found.id });
    await new Promise((r) => setTimeout(r, 1_000)); // several more passes
    expect((await runsOf(project.id)).map((r) => r.request.sha).sort()).toEqual([first, missed].sort());
    // A webhook came after the missed run: the project is no longer silent.
    await eventually(async () => expect((await readyz()).lostEvents ?? []).toEqual([]), 5_000);
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  }, 120_000);

  it('a merge GitLab never sent runs once, and the push the merge made joins it', async () => {
    const project = await h.gitlab.addProject({ id: base + 1, pathWithNamespace: `team/lost-merge-${base + 1}` });
    const first = await commitFiles(project.bareDir, 'main', { '.slipway.yml': PIPELINE }, 'add pipeline');
    await h.waitForRun(String((await pushed(project, first, 'main')).json['runId']));

    const featureHead = await commitFiles(project.bareDir, 'feature', { '.slipway.yml': PIPELINE, 'a.txt': 'a\n' }, 'feature work');
    // GitLab marks the MR merged as it moves main; here the MR first, then main (made on a side
    // branch), so no pass can see the new head of main before the merged MR.
    await gitOk(['--git-dir', project.bareDir, 'update-ref', 'refs/heads/merging', first]);
    const mergeCommit = await commitFiles(project.bareDir, 'merging', { 'a.txt': 'a\n' }, "Merge branch 'feature' into 'main'");
    h.gitlab.addMergedMergeRequest(project.id, { iid: 7, sourceBranch: 'feature', sha: featureHead, mergeCommitSha: mergeCommit, title: 'Feature' });
    await gitOk(['--git-dir', project.bareDir, 'update-ref', 'refs/heads/main', mergeCommit, first]);

    const run = await eventually(async () => {
      const r = (await runsOf(project.id)).find((x) => x.request.sha === mergeCommit);
      expect(r).toBeDefined();
      return r!;
    }, 20_000);
    expect(run.request).toMatchObject({ event: 'merge', kind: 'full', ref: 'main', mergeRequest: { iid: 7, sourceBranch: 'feature', targetBranch: 'main' } });
    await h.waitForRun(run.id);
    await new Promise((r) => setTimeout(r, 1_000));
    // One run for the merge commit: the head of main it left behind is the same pipeline.
    expect((await runsOf(project.id)).filter((r) => r.request.sha === mergeCommit)).toHaveLength(1);
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  }, 120_000);

  it('a hook GitLab disabled is reported by /readyz, the API and the log', async () => {
    const project = await h.gitlab.addProject({ id: base + 2, pathWithNamespace: `team/hook-off-${base + 2}` });
    const sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': PIPELINE }, 'add pipeline');
    await h.waitForRun(String((await pushed(project, sha, 'main')).json['runId']));
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const hook = h.gitlab.addHook(project.id, { url: `${h.url}/webhooks/gitlab`, alertStatus: 'temporarily_disabled', disabledUntil: until });
    h.gitlab.addHook(project.id, { url: 'https://elsewhere.example.com/hook', alertStatus: 'disabled' });

    const expected = `project ${project.pathWithNamespace}: GitLab has disabled hook ${hook.id} (${new URL(h.url).host}/webhooks/gitlab) until ${until} after failed deliveries: it sends nothing until then`;
    await eventually(async () => expect((await readyz()).lostEvents).toContain(expected), 10_000);
    const watch = await h.api<Array<{ project: number; problems: string[] }>>('/api/projects/watch');
    expect(watch.body.find((w) => w.project === project.id)?.problems).toEqual([expected.replace(`project ${project.pathWithNamespace}: `, '')]);
    expect(h.logs.some((l) => l.includes('events from this project may be lost') && l.includes(`hook ${hook.id}`))).toBe(true);
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  }, 60_000);
});
