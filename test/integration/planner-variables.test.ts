import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/planning/plan.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10, bug 7: project variables set through the API reach the running planner's rules and
// `image:` expansion (docs/pipeline-file.md), except masked ones, protected ones off protected refs,
// and everything for fork merge requests.
describe('project variables in the running planner', () => {
  let h: Harness;
  let project: FakeProject;
  const projectId = 16000 + Math.floor(Math.random() * 1000);
  const maskedValue = 'masked-flag-value-1234';

  const pipeline = [
    'canary-check:',
    '  image: $BASE_REGISTRY/alpine:3',
    '  script: [make canary]',
    '  rules:',
    '    - if: $FEATURE_CANARY == "on"',
    'protected-only:',
    '  image: alpine',
    '  script: [make release-notes]',
    '  rules:',
    '    - if: $RELEASE_CHANNEL == "stable"',
    'masked-probe:',
    '  image: alpine',
    '  script: [echo never]',
    '  rules:',
    '    - if: $MASKED_FLAG =~ /^masked-flag-/',
    '    - if: $MASKED_FLAG',
    'scoped-probe:',
    '  image: alpine',
    '  script: [echo never]',
    '  rules:',
    '    - if: $ONLY_IN_PRE',
    '',
  ].join('\n');

  const putVariable = async (name: string, body: Record<string, unknown>) => {
    const res = await fetch(`${h.url}/api/projects/${projectId}/variables/${name}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
  };

  const planOf = async (runId: string): Promise<{ run: RunRecord; plan: Plan }> => {
    const run = await eventually(async () => {
      const r = await h.slipway.store.get(runId);
      if (!r?.plan) throw new Error(`run ${runId} not planned yet (${r?.status.phase ?? 'missing'}: ${r?.status.reason ?? ''})`);
      return r;
    }, 30_000);
    if (!run.plan) throw new Error(`run ${runId} has no plan`);
    return { run, plan: run.plan };
  };

  const push = async (branch: string, refProtected: boolean) => {
    const sha = await commitFiles(project.bareDir, branch, { '.slipway.yml': pipeline }, `change on ${branch}`);
    const body = fixture('push-hook.json') as Record<string, unknown>;
    Object.assign(body, {
      ref: `refs/heads/${branch}`,
      after: sha,
      checkout_sha: sha,
      ref_protected: refProtected,
      project: { ...(body['project'] as object), id: projectId, path_with_namespace: project.pathWithNamespace, default_branch: 'main' },
    });
    const res = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return planOf(String(res.json['runId']));
  };

  const jobNames = (plan: Plan) => plan.jobs.map((j) => j.name).sort();
  const skippedNames = (plan: Plan) => plan.skipped.map((s) => s.name).sort();

  beforeAll(async () => {
    // No build worker: the test reads the plan the planner records; nothing runs.
    h = await startHarness({ roles: ['http', 'planner'] });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/vars-${projectId}`, defaultBranch: 'main' });
    await putVariable('FEATURE_CANARY', { value: 'on' });
    await putVariable('BASE_REGISTRY', { value: 'harbor.example.com/mirror' });
    await putVariable('RELEASE_CHANNEL', { value: 'stable', protected: true });
    await putVariable('MASKED_FLAG', { value: maskedValue, masked: true });
    await putVariable('ONLY_IN_PRE', { value: 'yes', environment: 'pre' });
  });
  afterAll(async () => h.stop());

  it('on a protected ref: plain and protected variables reach rules and image:, masked and environment-scoped ones do not', async () => {
    const { run, plan } = await push('main', true);
    expect(jobNames(plan)).toEqual(['canary-check', 'protected-only']);
    expect(skippedNames(plan)).toEqual(['masked-probe', 'scoped-probe']);
    const canary = plan.jobs.find((j) => j.name === 'canary-check');
    expect(canary?.kind === 'script' ? canary.image : undefined).toBe('harbor.example.com/mirror/alpine:3');
    // The masked value is never written into the run record (plan, reasons, log).
    expect(JSON.stringify(run)).not.toContain(maskedValue);
    expect(JSON.stringify(await h.slipway.store.readLog(run.id))).not.toContain(maskedValue);
  });

  it('on an unprotected branch: protected variables are not visible to rules', async () => {
    const { plan } = await push('feature-x', false);
    expect(jobNames(plan)).toEqual(['canary-check']);
    expect(skippedNames(plan)).toEqual(['masked-probe', 'protected-only', 'scoped-probe']);
  });

  it('for a merge request from a fork: no project variable is visible', async () => {
    const sha = await commitFiles(project.bareDir, 'fork-change', { '.slipway.yml': pipeline }, 'fork change');
    const body = fixture('merge-request-hook-open.json') as { project: Record<string, unknown>; object_attributes: Record<string, unknown> };
    body.project = { ...body.project, id: projectId, path_with_namespace: project.pathWithNamespace, default_branch: 'main' };
    body.object_attributes = {
      ...body.object_attributes,
      iid: 3,
      source_project_id: projectId + 5000,
      target_project_id: projectId,
      source_branch: 'fork-change',
      target_branch: 'main',
      last_commit: { ...(body.object_attributes['last_commit'] as object), id: sha },
    };
    const res = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const { plan } = await planOf(String(res.json['runId']));
    expect(jobNames(plan)).toEqual([]);
    expect(skippedNames(plan)).toEqual(['canary-check', 'masked-probe', 'protected-only', 'scoped-probe']);
  });
});
