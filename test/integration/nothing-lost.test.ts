import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';
import type { PipelineRequest } from '../../src/triggers/types.js';

// A run stored but never queued (the process died between the two) must still be planned.
describe('nothing accepted is lost', () => {
  let h: Harness | undefined;
  afterEach(async () => h?.stop());

  const seed = async (harness: Harness, id: number) => {
    const project = await harness.gitlab.addProject({ id, pathWithNamespace: `team/lost-${id}`, defaultBranch: 'main' });
    const sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': 'unit:\n  image: slipway/busybox:1\n  script: [echo ok]\n' }, 'add pipeline');
    const request: PipelineRequest = {
      kind: 'ci',
      event: 'push',
      project: { id, path: project.pathWithNamespace, defaultBranch: 'main', webUrl: undefined },
      sha,
      ref: 'main',
      before: undefined,
      mergeRequest: undefined,
      actor: 'dev',
    };
    return { project, sha, request };
  };

  it('a resend of a stored-but-unqueued delivery queues it', async () => {
    h = await startHarness();
    const { sha, project, request } = await seed(h, 7001);
    const body = fixture('push-hook.json') as Record<string, unknown>;
    body['project'] = { ...(body['project'] as object), id: 7001, path_with_namespace: project.pathWithNamespace };
    Object.assign(body, { ref: 'refs/heads/main', after: sha, checkout_sha: sha });
    const key = randomUUID();
    // First delivery "crashes" after storing: store directly, without queueing.
    const { runId } = await h.slipway.store.accept(request, `idem:${key}`, 'delivery-1');
    const resend = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET, { idempotencyKey: key });
    expect(resend.json).toEqual({ duplicateOf: runId });
    const run = await h.waitForRun(runId);
    expect(run.status.phase).toBe('succeeded');
  });

  it('the planner picks up a stored-but-unqueued run by itself', async () => {
    h = await startHarness({ reconcileEveryMs: 500 });
    const { request } = await seed(h, 7002);
    const { runId } = await h.slipway.store.accept(request, `idem:${randomUUID()}`, 'delivery-2');
    const run = await h.waitForRun(runId, ['succeeded', 'failed'], 30_000);
    expect(run.status.phase).toBe('succeeded');
    expect(h.logs.some((l) => l.includes('never queued'))).toBe(true);
  });
});
