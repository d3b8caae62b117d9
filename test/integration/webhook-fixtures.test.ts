import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Every real GitLab payload in shared/fixtures/gitlab through the real HTTP route.
describe('GitLab fixtures through POST /webhooks/gitlab', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ roles: ['http'] });
  });
  afterAll(async () => h.stop());

  const accepted = [
    {
      file: 'merge-request-hook-merge.json',
      event: 'Merge Request Hook',
      kind: 'full',
      trigger: 'merge',
      sha: '78a76ee6b4992a6baf64c59fc4c44c7323d60438',
      ref: 'master',
    },
    {
      file: 'merge-request-hook-open.json',
      event: 'Merge Request Hook',
      kind: 'ci',
      trigger: 'mr',
      sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      ref: 'ms-viewport',
    },
    { file: 'push-hook.json', event: 'Push Hook', kind: 'ci', trigger: 'push', sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7', ref: 'master' },
    { file: 'tag-push-hook.json', event: 'Tag Push Hook', kind: 'release', trigger: 'tag', sha: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7', ref: 'v1.0.0' },
  ] as const;

  for (const c of accepted) {
    it(`${c.file} → a ${c.kind} pipeline for ${c.ref}@${c.sha.slice(0, 8)}`, async () => {
      const res = await deliver(h.url, c.event, fixture(c.file), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      expect(res.json).toHaveProperty('runId');
      const run = await h.api<RunRecord>(`/api/runs/${String(res.json['runId'])}`);
      expect(run.status).toBe(200);
      expect(run.body.request).toMatchObject({ kind: c.kind, event: c.trigger, sha: c.sha, ref: c.ref });
      expect(run.body.status.phase).toBe('received');
    });
  }

  const ignored = [
    { file: 'push-hook-branch-delete.json', event: 'Push Hook', reason: 'branch deleted' },
    { file: 'note-hook-merge-request.json', event: 'Note Hook', reason: 'comments do not start pipelines' },
    { file: 'pipeline-hook.json', event: 'Pipeline Hook', reason: "event 'Pipeline Hook' is not handled" },
  ] as const;

  for (const c of ignored) {
    it(`${c.file} → 202 ignored: ${c.reason}`, async () => {
      const before = (await h.api<{ runs: unknown[] }>('/api/runs')).body.runs.length;
      const res = await deliver(h.url, c.event, fixture(c.file), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      expect(String(res.json['ignored'])).toContain(c.reason);
      expect((await h.api<{ runs: unknown[] }>('/api/runs')).body.runs.length).toBe(before);
    });
  }

  it('a merge request update without oldrev (labels, title) is ignored, with oldrev it builds', async () => {
    const body = fixture('merge-request-hook-open.json') as { object_attributes: Record<string, unknown> };
    body.object_attributes['action'] = 'update';
    const metaOnly = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET);
    expect(metaOnly.status).toBe(202);
    expect(metaOnly.json['ignored']).toMatch(/metadata only/);
    body.object_attributes['oldrev'] = 'a'.repeat(40);
    body.object_attributes['last_commit'] = { ...(body.object_attributes['last_commit'] as object), id: 'b'.repeat(40) };
    const newCommits = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET);
    expect(newCommits.status).toBe(202);
    expect(newCommits.json).toHaveProperty('runId');
  });

  it('the push of a merge commit joins the pipeline its merge already started', async () => {
    const merge = fixture('merge-request-hook-merge.json') as { object_attributes: Record<string, unknown> };
    const sha = 'c'.repeat(40);
    merge.object_attributes['merge_commit_sha'] = sha;
    const push = fixture('push-hook.json') as Record<string, unknown>;
    push['project'] = (merge as Record<string, unknown>)['project'];
    push['checkout_sha'] = sha;
    push['after'] = sha;
    const first = await deliver(h.url, 'Merge Request Hook', merge, WEBHOOK_SECRET);
    const second = await deliver(h.url, 'Push Hook', push, WEBHOOK_SECRET);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.json).toEqual({ duplicateOf: first.json['runId'] });
  });
});
