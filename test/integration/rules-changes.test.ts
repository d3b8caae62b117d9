import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/planning/plan.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles, mergeBranch } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { git } from '../helpers/git-cli.js';
import { deliver, mergeEvent, openMergeRequestEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10: `rules: changes` on merge requests and merges compares as GitLab does (docs/pipeline-file.md,
// "When jobs run"): a merge request's files against the merge base with its target branch, a merge's
// against its first parent. Until this was fixed, changes: held on both, so every job ran.
describe('rules: changes on merge requests and merges (running planner, real git)', () => {
  let h: Harness;
  let project: FakeProject;
  const projectId = 17000 + Math.floor(Math.random() * 1000);
  let iid = 0;

  const pipeline = [
    'src-check:',
    '  image: alpine',
    '  script: [make test]',
    '  rules:',
    '    - changes: [src/**/*]',
    'lint:',
    '  image: alpine',
    '  script: [make lint]',
    '',
  ].join('\n');

  const planOf = async (runId: string): Promise<{ run: RunRecord; plan: Plan }> => {
    const run = await eventually(async () => {
      const r = await h.slipway.store.get(runId);
      if (!r?.plan) throw new Error(`run ${runId} not planned yet (${r?.status.phase ?? 'missing'}: ${r?.status.reason ?? ''})`);
      return r;
    }, 30_000);
    if (!run.plan) throw new Error(`run ${runId} has no plan`);
    return { run, plan: run.plan };
  };
  const jobNames = (plan: Plan) => plan.jobs.map((j) => j.name).sort();
  const head = (branch: string) => git(project.bareDir, 'rev-parse', `refs/heads/${branch}`);
  /** A branch off main's current head with one commit per entry of `commits`. */
  const branchOffMain = async (branch: string, ...commits: Record<string, string>[]) => {
    git(project.bareDir, 'branch', branch, head('main'));
    let sha = '';
    for (const [i, files] of commits.entries()) sha = await commitFiles(project.bareDir, branch, files, `${branch} ${i}`);
    return sha;
  };
  const openMr = async (branch: string, sha: string, targetBranch = 'main') => {
    iid += 1;
    const res = await deliver(
      h.url,
      'Merge Request Hook',
      openMergeRequestEvent({ projectId, path: project.pathWithNamespace, sha, iid, sourceBranch: branch, targetBranch }),
      WEBHOOK_SECRET,
    );
    expect(res.status).toBe(202);
    return planOf(String(res.json['runId']));
  };
  const merge = async (branch: string, sha: string) => {
    iid += 1;
    const res = await deliver(
      h.url,
      'Merge Request Hook',
      mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid, sourceBranch: branch }),
      WEBHOOK_SECRET,
    );
    expect(res.status).toBe(202);
    return planOf(String(res.json['runId']));
  };
  const planLog = async (runId: string) => (await h.slipway.store.readLog(runId)).map((l) => l.line).join('\n');

  beforeAll(async () => {
    // No build worker: the test reads the plan the planner records; nothing runs.
    h = await startHarness({ roles: ['http', 'planner'] });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/changes-${projectId}`, defaultBranch: 'main' });
    await commitFiles(project.bareDir, 'main', { '.slipway.yml': pipeline, 'src/app.ts': 'export {};\n', 'docs/guide.md': '# Guide\n' }, 'initial');
  });
  afterAll(async () => h.stop());

  it('a merge request touching only docs/ leaves out the src/ job, though its target branch moved on in src/ since', async () => {
    const sha = await branchOffMain('docs-only', { 'docs/guide.md': '# Guide\nmore\n' }, { 'docs/faq.md': '# FAQ\n' });
    await commitFiles(project.bareDir, 'main', { 'src/app.ts': 'export const x = 1;\n' }, 'main moves on in src/');
    const { run, plan } = await openMr('docs-only', sha);
    expect(jobNames(plan)).toEqual(['lint']);
    expect(plan.skipped.map((s) => s.name)).toEqual(['src-check']);
    expect(await planLog(run.id)).toMatch(/changed files: 2 against the merge base [0-9a-f]{8} with main/);
  });

  it('a merge request that changed src/ in an earlier commit runs the src/ job', async () => {
    const sha = await branchOffMain('src-then-docs', { 'src/feature.ts': 'export const f = 1;\n' }, { 'docs/feature.md': '# Feature\n' });
    const { plan } = await openMr('src-then-docs', sha);
    expect(jobNames(plan)).toEqual(['lint', 'src-check']);
  });

  it("compares with the target branch's current head, fetched into the mirror", async () => {
    // The mirror was cloned by the first test; main has moved on in src/ since. A branch off the new
    // main that touches only docs/ changes only docs/ against it.
    await commitFiles(project.bareDir, 'main', { 'src/app.ts': 'export const x = 2;\n' }, 'main moves on again');
    const sha = await branchOffMain('docs-off-new-main', { 'docs/new.md': '# New\n' });
    const { plan } = await openMr('docs-off-new-main', sha);
    expect(jobNames(plan)).toEqual(['lint']);
  });

  it('a merge commit that brings in only docs/ leaves out the src/ job; one that brings in src/ runs it', async () => {
    const docsMerge = await mergeBranch(project.bareDir, 'docs-only', 'main', 'Merge branch docs-only');
    expect(jobNames((await merge('docs-only', docsMerge)).plan)).toEqual(['lint']);
    const srcMerge = await mergeBranch(project.bareDir, 'src-then-docs', 'main', 'Merge branch src-then-docs');
    const { run, plan } = await merge('src-then-docs', srcMerge);
    expect(jobNames(plan).filter((n) => n === 'src-check')).toEqual(['src-check']);
    expect(await planLog(run.id)).toMatch(/changed files: 2 against the merge's first parent [0-9a-f]{8}/);
  });

  it('a fast-forward merge (no merge commit) cannot tell what it brought in: changes hold and the log says why', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'docs/ff.md': '# FF\n' }, 'fast-forwarded docs change');
    const { run, plan } = await merge('ff', sha);
    expect(jobNames(plan).filter((n) => n === 'src-check')).toEqual(['src-check']);
    expect(await planLog(run.id)).toMatch(/changed files unknown \([0-9a-f]{8} is not a merge commit \(fast-forward merge\)/);
  });

  it('a merge request whose target branch is gone: changes hold and the log names the branch', async () => {
    const sha = await branchOffMain('to-nowhere', { 'docs/x.md': '# X\n' });
    const { run, plan } = await openMr('to-nowhere', sha, 'deleted-target');
    expect(jobNames(plan)).toEqual(['lint', 'src-check']);
    expect(await planLog(run.id)).toMatch(
      /changed files unknown \(target branch deleted-target not fetched: .*couldn't find remote ref.*\): rules with changes: count as true/,
    );
  });
});
