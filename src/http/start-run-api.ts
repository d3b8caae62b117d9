import { randomUUID } from 'node:crypto';
import express, { type Router } from 'express';
import { z } from 'zod';
import { GitlabApiError } from '../gitlab/errors.js';
import type { GitlabClient } from '../gitlab/client.js';
import type { Logger } from '../logging/logger.js';
import type { RunStore } from '../runs/run-store.js';
import type { PipelineRequest } from '../triggers/types.js';
import { APPROVER_TOKEN_HEADER } from './approvals-api.js';
import { jsonBodyErrors } from './plan-api.js';

export interface StartRunApiDeps {
  store: RunStore;
  gitlab: GitlabClient;
  logger: Logger;
  /** Hands the accepted run to the planner (the queue lives outside http/). */
  enqueuePlan: (runId: string) => Promise<void>;
}

const body = z.strictObject({
  project: z.number().int().positive(),
  ref: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\s~^:?*[\\]+$/, 'not a branch name'),
});

/**
 * POST /api/runs { project, ref } — a pipeline for the head of a branch, started by hand (GitLab's
 * "Run pipeline"): event `manual`, kind `full`, accepted through the same accept script as a webhook
 * and planned by the same planner. Every call is a new run; an `Idempotency-Key` header makes a
 * retried call answer the run it already made. Who asked: the owner of the GitLab token in
 * X-Gitlab-Approver-Token when one is sent (asked of GitLab, never stored), else "api".
 * Answers 201 { runId, sha, ref }, 200 { runId, duplicate: true } for a repeated Idempotency-Key,
 * 400 bad body, 403 GitLab does not accept the GitLab token (401 stays the API token's), 404 no such project or branch, 502 GitLab failed.
 */
export function createStartRunApi(deps: StartRunApiDeps): Router {
  const router = express.Router();
  router.post('/api/runs', express.json({ limit: '16kb' }), async (req, res) => {
    const parsed = body.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({
        error: `body must be { project: <GitLab project id>, ref: <branch> }: ${parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
          .join('; ')}`,
      });
      return;
    }
    const { project: projectId, ref } = parsed.data;
    const idempotencyKey = req.get('Idempotency-Key');
    if (idempotencyKey !== undefined && !/^[\w.:-]{1,200}$/.test(idempotencyKey)) {
      res.status(400).json({ error: 'Idempotency-Key must be 1 to 200 letters, digits, _ . : or -' });
      return;
    }
    try {
      const approverToken = req.get(APPROVER_TOKEN_HEADER);
      let actor = 'api';
      if (approverToken) {
        try {
          actor = (await deps.gitlab.userOfToken(approverToken)).username;
        } catch (err) {
          if (err instanceof GitlabApiError && err.status === 401) {
            res.status(403).json({ error: 'GitLab does not accept the token in X-Gitlab-Approver-Token' });
            return;
          }
          throw err;
        }
      }
      const p = await deps.gitlab.getProject(projectId);
      const branch = (await deps.gitlab.listBranches(projectId)).find((b) => b.name === ref);
      if (!branch) {
        res.status(404).json({ error: `project ${p.path_with_namespace} has no branch ${ref}` });
        return;
      }
      const request: PipelineRequest = {
        kind: 'full',
        event: 'manual',
        project: { id: p.id, path: p.path_with_namespace, defaultBranch: p.default_branch ?? 'main', webUrl: p.web_url ?? undefined },
        sha: branch.commit.id,
        ref,
        before: undefined,
        mergeRequest: undefined,
        actor,
        refProtected: branch.protected,
      };
      const now = new Date();
      const deliveryKey = `manual:${idempotencyKey ?? randomUUID()}`;
      const { runId, created } = await deps.store.accept(request, deliveryKey, `manual:${actor}:${now.toISOString()}`, now);
      if (!created) {
        res.json({ runId, duplicate: true });
        return;
      }
      await deps.enqueuePlan(runId);
      deps.logger.info({ run: runId, project: request.project.path, ref, sha: request.sha, actor }, 'run started by hand');
      res.status(201).json({ runId, sha: request.sha, ref, actor });
    } catch (err) {
      if (err instanceof GitlabApiError && err.status === 404) {
        res.status(404).json({ error: `GitLab knows no project ${projectId}` });
        return;
      }
      deps.logger.warn({ err, project: projectId, ref }, 'could not start a run');
      res.status(502).json({ error: err instanceof Error ? err.message : String(err) });
    }
  });
  router.use(jsonBodyErrors());
  return router;
}
