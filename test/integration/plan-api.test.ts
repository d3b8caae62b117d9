import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/planning/plan-types.js';
import type { PipelineProblem } from '../../src/pipeline/errors.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, type Harness } from '../helpers/slipway-harness.js';

const PIPELINE = `stages: [test, build, deploy]
unit:
  image: slipway/busybox:1
  script: [npm test]
docs:
  image: slipway/busybox:1
  script: [make docs]
  rules:
    - changes: [docs/**]
release-notes:
  image: slipway/busybox:1
  script: [make notes]
  rules:
    - if: $SLIPWAY_EVENT == "tag"
build: { image: shop/cart }
deploy:
  service: cart
  environments:
    pre: { port: 18080 }
`;

interface PlanAnswer {
  request: { event: string; ref: string; sha: string; project: string };
  plan: Plan;
  lines: string[];
}

// POST /api/plan on a running Slipway: what a user (or an editor plugin) sees for a dry run.
describe('POST /api/plan', () => {
  let h: Harness;
  const projectId = 3100;
  const path = 'shop/cart';
  let sha = '';
  let brokenSha = '';

  const post = async (body: unknown, token: string | null = h.slipway.apiToken) => {
    const res = await fetch(`${h.url}/api/plan`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token === null ? {} : { Authorization: `Bearer ${token}` }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** A "merge request opened" delivery in GitLab's real shape, for our project at `at`. */
  const mrOpened = (at: string) => {
    const body = fixture('merge-request-hook-open.json') as { project: Record<string, unknown>; object_attributes: Record<string, unknown> };
    body.project = { ...body.project, id: projectId, path_with_namespace: path, default_branch: 'main' };
    body.object_attributes = {
      ...body.object_attributes,
      source_project_id: projectId,
      target_project_id: projectId,
      source_branch: 'feature',
      target_branch: 'main',
      last_commit: { ...(body.object_attributes['last_commit'] as object), id: at },
    };
    return body;
  };

  beforeAll(async () => {
    h = await startHarness({ roles: ['http'] });
    const project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path, defaultBranch: 'main' });
    sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': PIPELINE }, 'pipeline');
    brokenSha = await commitFiles(
      project.bareDir,
      'broken',
      {
        '.slipway.yml':
          'unit:\n  image: slipway/busybox:1\n  script: [make]\n  neds: []\ne2e:\n  image: slipway/busybox:1\n  script: [make]\n  needs: [unitt]\n',
      },
      'typo',
    );
    await commitFiles(project.bareDir, 'bare', { 'README.md': 'no pipeline\n' }, 'readme');
  });
  afterAll(async () => h.stop());

  it('needs the API token', async () => {
    expect((await post({ project: { id: projectId, path }, ref: 'main', event: 'merge' }, null)).status).toBe(401);
    expect((await post({ project: { id: projectId, path }, ref: 'main', event: 'merge' }, 'wrong-token')).status).toBe(401);
  });

  it('plans a GitLab delivery: the jobs in order and every skipped job with the rule that skipped it', async () => {
    const res = await post({ gitlabEvent: 'Merge Request Hook', payload: mrOpened(sha), changedFiles: ['src/cart.ts'] });
    expect(res.status).toBe(200);
    const answer = res.body as unknown as PlanAnswer;
    expect(answer.request).toEqual({ event: 'mr', ref: 'feature', sha, project: path });
    expect(answer.plan.jobs.map((j) => j.name)).toEqual(['unit']);
    const reasons = Object.fromEntries(answer.plan.skipped.map((s) => [s.name, s.reason]));
    expect(reasons['docs']).toMatch(/^no rule matched \(rules\[0\]: changes \[docs\/\*\*\] matched none of the 1 changed files?\)$/);
    expect(reasons['release-notes']).toMatch(/^no rule matched \(rules\[0\]: .*SLIPWAY_EVENT == "tag"/);
    expect(Object.keys(reasons)).toEqual(expect.arrayContaining(['docs', 'release-notes', 'image', 'deploy:pre']));
    expect(answer.lines[0]).toBe('1 job would run, in this order:');
    expect(answer.lines).toContain('  1. unit [script, stage test]');
    expect(answer.lines).toContain(`  - docs: ${reasons['docs']}`);

    // The same commit with docs changed runs the docs job.
    const withDocs = await post({ gitlabEvent: 'Merge Request Hook', payload: mrOpened(sha), changedFiles: ['docs/index.md'] });
    expect((withDocs.body as unknown as PlanAnswer).plan.jobs.map((j) => j.name)).toEqual(['unit', 'docs']);
  });

  it('plans by project, ref and event: a merge builds and deploys', async () => {
    const res = await post({ project: { id: projectId, path }, ref: 'main', event: 'merge' });
    expect(res.status).toBe(200);
    const answer = res.body as unknown as PlanAnswer;
    expect(answer.plan.jobs.map((j) => [j.name, j.kind])).toEqual([
      ['unit', 'script'],
      ['docs', 'script'],
      ['image', 'image'],
      ['deploy:pre', 'deploy'],
    ]);
    expect(answer.plan.skipped.map((s) => s.name)).toEqual(['release-notes']);

    const tag = await post({ project: { id: projectId, path }, ref: 'main', sha, event: 'tag' });
    expect((tag.body as unknown as PlanAnswer).plan.jobs.map((j) => j.name)).toContain('release-notes');
  });

  it('an invalid pipeline file: 422 with every problem at file:line:column', async () => {
    const res = await post({ project: { id: projectId, path }, ref: 'broken', sha: brokenSha, event: 'push' });
    expect(res.status).toBe(422);
    const problems = res.body['problems'] as PipelineProblem[];
    expect(problems).toContainEqual({ file: '.slipway.yml', line: 4, column: 3, message: expect.stringContaining("unknown key 'neds'") as unknown as string });
    expect(res.body['lines']).toEqual([
      ".slipway.yml:4:3: unknown key 'neds' in job 'unit' — did you mean 'needs'?",
      ".slipway.yml:8:11: 'e2e' needs 'unitt', which is not a job of this pipeline — did you mean 'unit'?",
    ]);

    // An uncommitted file (editor preview) is checked the same way.
    const inline = await post({ project: { id: projectId, path }, ref: 'main', event: 'merge', pipeline: 'unit:\n  image: x\n  script: [make]\n  neds: []\n' });
    expect(inline.status).toBe(422);
    expect(inline.body['lines']).toContain(".slipway.yml:4:3: unknown key 'neds' in job 'unit' — did you mean 'needs'?");
  });

  it('a setting Slipway does not act on yet: 422 at its line and column, saying what works instead', async () => {
    const pipeline = 'build: { image: shop/cart }\ndeploy:\n  environments:\n    production: { port: 28080, resource_group: prod }\n';
    const res = await post({ project: { id: projectId, path }, ref: 'main', event: 'merge', pipeline });
    expect(res.status).toBe(422);
    expect(res.body['lines']).toEqual([
      ".slipway.yml:4:32: 'deploy.environments.production.resource_group' is not supported yet: a deploy holds its environment's lock instead (one deploy per service and environment at a time)",
    ]);
  });

  it('404 when the commit has no pipeline file', async () => {
    const res = await post({ project: { id: projectId, path }, ref: 'bare', event: 'push' });
    expect(res.status).toBe(404);
    expect(res.body['error']).toBe(`no .slipway.yml at bare in project ${path}`);
  });

  it('400 for a request that is neither form, or an event it cannot read', async () => {
    for (const body of [{}, { project: { id: 'x', path }, ref: 'main', event: 'merge' }, { project: { id: projectId, path }, ref: 'main', event: 'deploy' }]) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(res.body['error']).toBe('body must be { gitlabEvent, payload } or { project: { id, path }, ref, event }');
    }
    const detail = (await post({ project: { id: projectId, path }, ref: 'main', event: 'deploy' })).body['detail'] as string[];
    expect(detail.join('\n')).toMatch(/^event: /m);
    const unknown = await post({ gitlabEvent: 'Wiki Page Hook', payload: {} });
    expect(unknown).toEqual({ status: 400, body: { error: 'not a GitLab event we handle: Wiki Page Hook' } });
    const badPayload = await post({ gitlabEvent: 'Merge Request Hook', payload: { object_kind: 'merge_request' } });
    expect(badPayload.status).toBe(400);
    const notJson = await post('{"not json');
    expect(notJson.status).toBe(400);
    expect(notJson.body['error']).toMatch(/^the body is not valid JSON: /);
  });

  it('records and queues nothing', async () => {
    expect((await h.api<{ runs: RunRecord[] }>('/api/runs')).body.runs).toEqual([]);
  });
});
