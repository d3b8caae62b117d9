import express, { type Request, type Response, type Router } from 'express';
import type { Approvals, DecisionResult } from '../approvals/approvals.js';
import type { DecisionSource } from '../approvals/audit-log.js';
import type { Logger } from '../logging/logger.js';

/** The header carrying the approver's own GitLab personal access token. */
export const APPROVER_TOKEN_HEADER = 'X-Gitlab-Approver-Token';
/** Set by `slipway approve|reject`; anything else is recorded as the API. */
export const SOURCE_HEADER = 'X-Slipway-Source';

/**
 * POST /api/runs/:id/jobs/:job/approve, POST /api/runs/:id/jobs/:job/reject { reason }, and the same
 * for an environment's deploy step: POST /api/runs/:id/environments/:env/approve|reject (the job
 * `deploy:<env>`, as the plan names it),
 * GET /api/audit?service=&environment=&project=&since=&until=&limit=. Behind the API token (the
 * caller is a Slipway client); the person deciding is the owner of the GitLab token in
 * X-Gitlab-Approver-Token, asked of GitLab. The token is never logged or stored.
 */
export function createApprovalsApi(deps: { approvals: Approvals; logger: Logger }): Router {
  const router = express.Router();
  const json = express.json({ limit: '16kb' });

  const decision = (action: 'approve' | 'reject', jobOf: (req: Request) => string) => async (req: Request, res: Response) => {
    const body: unknown = req.body;
    const reason =
      typeof body === 'object' && body !== null && typeof (body as { reason?: unknown }).reason === 'string' ? (body as { reason: string }).reason : undefined;
    const input = {
      runId: String(req.params['id']),
      job: jobOf(req),
      gitlabToken: req.get(APPROVER_TOKEN_HEADER) ?? '',
      source: sourceOf(req.get(SOURCE_HEADER)),
      ...(reason !== undefined ? { reason } : {}),
    };
    const result: DecisionResult = action === 'approve' ? await deps.approvals.approve(input) : await deps.approvals.reject(input);
    if (result.status === 200)
      deps.logger.info({ run: input.runId, job: input.job, decision: result.decision, started: result.started, audit: result.audit }, 'approval decision');
    else deps.logger.info({ run: input.runId, job: input.job, action, status: result.status, error: result.error }, 'approval decision refused');
    const { status, ...rest } = result;
    res.status(status).json(rest);
  };
  const byJob = (req: Request) => String(req.params['job']);
  const byEnvironment = (req: Request) => `deploy:${String(req.params['env'])}`;
  router.post('/api/runs/:id/jobs/:job/approve', json, decision('approve', byJob));
  router.post('/api/runs/:id/jobs/:job/reject', json, decision('reject', byJob));
  router.post('/api/runs/:id/environments/:env/approve', json, decision('approve', byEnvironment));
  router.post('/api/runs/:id/environments/:env/reject', json, decision('reject', byEnvironment));

  router.get('/api/audit', async (req, res) => {
    const q = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : undefined);
    const problems: string[] = [];
    const time = (name: string) => {
      const v = q(name);
      if (v === undefined) return undefined;
      const t = new Date(v);
      if (Number.isNaN(t.getTime())) problems.push(`${name} must be a time such as 2025-05-01T10:00:00Z`);
      return t;
    };
    const since = time('since');
    const until = time('until');
    const limit = Number(q('limit') ?? 100);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) problems.push('limit must be a whole number from 1 to 1000');
    const project = q('project');
    if (project !== undefined && !/^\d+$/.test(project)) problems.push('project must be a numeric GitLab project id');
    if (problems.length > 0) {
      res.status(400).json({ error: problems.join('; ') });
      return;
    }
    const service = q('service');
    const environment = q('environment');
    const entries = await deps.approvals.audit.list({
      limit,
      ...(service !== undefined ? { service } : {}),
      ...(environment !== undefined ? { environment } : {}),
      ...(project !== undefined ? { projectId: Number(project) } : {}),
      ...(since ? { since } : {}),
      ...(until ? { until } : {}),
    });
    res.json({ entries });
  });
  return router;
}

function sourceOf(v: string | undefined): DecisionSource {
  return v?.toLowerCase() === 'cli' ? 'cli' : 'api';
}
