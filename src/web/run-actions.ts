import { randomUUID } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import type { Approvals, DecisionResult } from '../approvals/approvals.js';
import type { Logger } from '../logging/logger.js';
import type { RunStore } from '../runs/run-store.js';
import type { RunRecord } from '../runs/types.js';
import type { Access } from './access.js';
import { localPath, requireCsrf, requireSignIn, signedIn } from './guard.js';
import { sendProblem } from './layout.js';

export interface RunActionsDeps {
  store: RunStore;
  access: Access;
  approvals: Approvals;
  logger: Logger;
  /** scheduler/cancel.ts's cancelRun, wired in roles/http.ts: the jobs canceled. */
  cancel: (run: RunRecord, reason: string) => Promise<string[]>;
  /** Hands an accepted run to the planner. */
  enqueuePlan: (runId: string) => Promise<void>;
}

const OPEN_RUN = new Set(['received', 'planning', 'running']);

/**
 * The run page's buttons, each a POST form with the session's CSRF token: cancel, retry (a new run
 * of the same request, as GitLab's "Run pipeline" again on that commit), approve / reject a
 * deploy waiting for approval and play a manual job (both through the approvals code, which checks
 * the rule against GitLab at that moment and writes the audit log). Done: 303 back to the run.
 */
export function createRunActions(deps: RunActionsDeps): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const guard = [requireSignIn('json'), form, requireCsrf];

  const loadRun = async (req: Request, res: Response, level: 'operate' | 'view'): Promise<RunRecord | undefined> => {
    const session = signedIn(res);
    const id = String(req.params['id']);
    const run = await deps.store.get(id);
    if (!run || !(await deps.access.canView(session, run.request.project.id))) {
      sendProblem(req, res, 404, `run ${id} not found (or not in a project you are a Reporter of)`, session, '/pipelines');
      return undefined;
    }
    if (level === 'operate' && !(await deps.access.canOperate(session, run.request.project.id))) {
      sendProblem(req, res, 403, `only a Developer or higher of ${run.request.project.path} may do this`, session, `/runs/${encodeURIComponent(id)}`);
      return undefined;
    }
    return run;
  };

  router.post('/runs/:id/cancel', ...guard, async (req, res) => {
    const run = await loadRun(req, res, 'operate');
    if (!run) return;
    const session = signedIn(res);
    if (!OPEN_RUN.has(run.status.phase)) {
      sendProblem(req, res, 409, `run ${run.id} has ended (${run.status.phase}): nothing to cancel`, session, `/runs/${encodeURIComponent(run.id)}`);
      return;
    }
    const canceled = await deps.cancel(run, `canceled by @${session.user.username} in the web UI`);
    deps.logger.info({ run: run.id, user: session.user.username, canceled }, 'run canceled from the web UI');
    res.redirect(303, `/runs/${encodeURIComponent(run.id)}`);
  });

  router.post('/runs/:id/retry', ...guard, async (req, res) => {
    const run = await loadRun(req, res, 'operate');
    if (!run) return;
    const session = signedIn(res);
    if (OPEN_RUN.has(run.status.phase)) {
      sendProblem(req, res, 409, `run ${run.id} is still ${run.status.phase}: cancel it or wait for it to end`, session, `/runs/${encodeURIComponent(run.id)}`);
      return;
    }
    // The person retrying is who triggered the new pipeline (GitLab's rule), which counts for `allow_author`.
    const request = { ...run.request, actor: session.user.username };
    const now = new Date();
    const { runId } = await deps.store.accept(request, `retry:${randomUUID()}`, `retry:${session.user.username}:${run.id}:${now.toISOString()}`, now, {
      again: true,
    });
    await deps.enqueuePlan(runId);
    await deps.store.appendLog(runId, 'plan', 'system', `retry of run ${run.id} by @${session.user.username}`);
    deps.logger.info({ run: runId, of: run.id, user: session.user.username }, 'run retried from the web UI');
    res.redirect(303, `/runs/${encodeURIComponent(runId)}`);
  });

  const decision = (action: 'approve' | 'reject' | 'play') => async (req: Request, res: Response) => {
    const run = await loadRun(req, res, 'view');
    if (!run) return;
    const session = signedIn(res);
    const job = String(req.params['job']);
    const planned = run.plan?.jobs.find((j) => j.name === job);
    const body = (req.body ?? {}) as Record<string, unknown>;
    // The inbox's forms come back to the inbox.
    const back = body['back'] !== undefined ? localPath(body['back']) : `/runs/${encodeURIComponent(run.id)}`;
    // Play is for manual jobs and approve for deploys waiting for an approval: the same decision underneath.
    if (planned && (action === 'play') !== (planned.kind !== 'deploy') && action !== 'reject') {
      sendProblem(req, res, 400, action === 'play' ? `${job} is a deploy: approve it instead` : `${job} is a manual job: play it instead`, session, back);
      return;
    }
    const reason = typeof body['reason'] === 'string' ? body['reason'] : undefined;
    const input = {
      runId: run.id,
      job,
      gitlabUser: { id: session.user.id, username: session.user.username },
      source: 'web' as const,
      ...(reason !== undefined ? { reason } : {}),
    };
    const result: DecisionResult = action === 'reject' ? await deps.approvals.reject(input) : await deps.approvals.approve(input);
    if (result.status !== 200) {
      deps.logger.info({ run: run.id, job, action, status: result.status, error: result.error }, 'web decision refused');
      sendProblem(req, res, result.status, result.error, session, back);
      return;
    }
    deps.logger.info({ run: run.id, job, decision: result.decision, started: result.started, user: session.user.username }, 'web decision');
    res.redirect(303, back);
  };
  router.post('/runs/:id/jobs/:job/approve', ...guard, decision('approve'));
  router.post('/runs/:id/jobs/:job/reject', ...guard, decision('reject'));
  router.post('/runs/:id/jobs/:job/play', ...guard, decision('play'));
  return router;
}
