import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { AuditLog } from '../approvals/audit-log.js';
import type { Logger } from '../logging/logger.js';
import { liveRelease } from '../releases/choose.js';
import { RELEASES_KEPT, type ReleaseHistories } from '../releases/release-history.js';
import { requestRollback, type RollbackJobData } from '../releases/rollback.js';
import type { ReleaseEntry } from '../releases/types.js';
import { SOURCE_HEADER } from './approvals-api.js';

export interface ReleasesApiDeps {
  histories: ReleaseHistories;
  audit: AuditLog;
  /** Queues the rollback on the deploy queue (the queue lives outside http/). */
  enqueueRollback: (job: RollbackJobData) => Promise<void>;
  logger: Logger;
}

/** Service and environment names as the pipeline file allows them (DNS-label-like). */
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const USER = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\w.@+-]+$/, 'letters, digits and _ . @ + -');

const rollbackBody = z.strictObject({
  release: z.number().int().positive().optional(),
  reason: z.string().trim().min(1, 'say why (it is recorded and shown to whoever resumes)').max(500),
  user: USER.optional(),
});
const resumeBody = z.strictObject({ user: USER.optional(), reason: z.string().trim().max(500).optional() });

/** An entry as the API shows it: everything but its recorded spec (which holds rendered secrets and never leaves Redis). */
type ReleaseView = ReleaseEntry & { poll: string };

/**
 * GET /api/services/:service/environments/:env/releases[?limit=] → { service, environment, live, paused, releases } (newest first),
 * GET …/releases/:id → one release (a rollback's progress), POST …/rollback { release?, reason, user? } → 202 { rollback, target,
 * paused, poll }, POST …/resume { user?, reason? } → 200 { paused: null, resumed }. Behind the API token; who acts is the
 * body's `user` (the CLI's --user), else "api". Every problem is a JSON { error }: 400 bad name or body, 404 unknown
 * service/environment or release, 409 nothing to roll back to, a release that never went live, a rollback in progress.
 */
export function createReleasesApi(deps: ReleasesApiDeps): Router {
  const router = express.Router();
  const json = express.json({ limit: '16kb' });
  const base = '/api/services/:service/environments/:env';
  const pathOf = (service: string, env: string) => `/api/services/${service}/environments/${env}`;
  const view = (e: ReleaseEntry): ReleaseView => ({ ...e, poll: `${pathOf(e.service, e.environment)}/releases/${e.id}` });

  /** The service and environment of the path, or a 400 already sent. */
  const names = (req: Request, res: Response): { service: string; env: string } | null => {
    const service = String(req.params['service']);
    const env = String(req.params['env']);
    const bad = [...(NAME.test(service) ? [] : [`service ${JSON.stringify(service)}`]), ...(NAME.test(env) ? [] : [`environment ${JSON.stringify(env)}`])];
    if (bad.length === 0) return { service, env };
    res.status(400).json({ error: `${bad.join(' and ')}: not a name (lowercase letters, digits and -)` });
    return null;
  };
  const bodyProblem = (what: string, issues: z.core.$ZodIssue[]) =>
    `body must be ${what}: ${issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || 'body'}: ${i.message}`)
      .join('; ')}`;

  router.get(`${base}/releases`, async (req, res) => {
    const n = names(req, res);
    if (!n) return;
    const limit = Number(typeof req.query['limit'] === 'string' ? req.query['limit'] : RELEASES_KEPT);
    if (!Number.isInteger(limit) || limit < 1 || limit > RELEASES_KEPT) {
      res.status(400).json({ error: `limit must be a whole number from 1 to ${RELEASES_KEPT}` });
      return;
    }
    const history = deps.histories.of(n.service, n.env);
    const [releases, paused, known] = [await history.list(), await history.pause(), await history.known()];
    if (!known && !paused) {
      res.status(404).json({ error: `no release of service ${n.service} in environment ${n.env} is recorded: nothing was deployed there` });
      return;
    }
    res.json({ service: n.service, environment: n.env, live: liveRelease(releases)?.id ?? null, paused, releases: releases.slice(0, limit).map(view) });
  });

  router.get(`${base}/releases/:id`, async (req, res) => {
    const n = names(req, res);
    if (!n) return;
    const id = Number(req.params['id']);
    if (!Number.isInteger(id) || id < 1) {
      res.status(400).json({ error: 'the release id is a whole number (1, 2, 3…)' });
      return;
    }
    const entry = await deps.histories.of(n.service, n.env).get(id);
    if (!entry) {
      res.status(404).json({ error: `release ${id} of ${n.service}/${n.env} is not in its history (the last ${RELEASES_KEPT} releases are kept)` });
      return;
    }
    res.json(view(entry));
  });

  router.post(`${base}/rollback`, json, async (req, res) => {
    const n = names(req, res);
    if (!n) return;
    const parsed = rollbackBody.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: bodyProblem('{ release?: <release id>, reason: <why>, user?: <who> }', parsed.error.issues) });
      return;
    }
    const { release, reason, user } = parsed.data;
    const by = user ?? 'api';
    const answer = await requestRollback(
      deps.histories,
      { service: n.service, environment: n.env, reason, by, ...(release !== undefined ? { release } : {}) },
      deps.enqueueRollback,
    );
    if (answer.status !== 202) {
      deps.logger.info({ service: n.service, environment: n.env, status: answer.status, error: answer.error }, 'rollback refused');
      res.status(answer.status).json({ error: answer.error });
      return;
    }
    const { rollback, target, pause } = answer;
    await deps.audit.append({
      at: rollback.at,
      action: 'rollback',
      outcome: 'requested',
      started: true,
      user: { id: null, username: by },
      source: sourceOf(req),
      project: target.project,
      runId: target.runId,
      job: `rollback:${n.env}`,
      service: n.service,
      environment: n.env,
      sha: target.sha,
      digest: target.digest,
      rule: 'the holder of the API token',
      detail: `rollback ${rollback.id} to release ${target.id} (run ${target.runId}, ${target.image}); automatic deploys to ${n.env} paused`,
      reason,
    });
    deps.logger.info({ service: n.service, environment: n.env, rollback: rollback.id, to: target.id, by }, 'rollback requested');
    res.status(202).json({ rollback: view(rollback), target: view(target), paused: pause, poll: view(rollback).poll });
  });

  router.post(`${base}/resume`, json, async (req, res) => {
    const n = names(req, res);
    if (!n) return;
    const parsed = resumeBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: bodyProblem('{ user?: <who>, reason?: <why> }', parsed.error.issues) });
      return;
    }
    const history = deps.histories.of(n.service, n.env);
    const paused = await history.pause();
    if (!paused && !(await history.known())) {
      res.status(404).json({ error: `no release of service ${n.service} in environment ${n.env} is recorded: nothing was deployed there` });
      return;
    }
    if (!paused) {
      // Resuming what is not paused changes nothing: answered as done, as enabling Argo CD's auto-sync twice is.
      res.json({ paused: null, resumed: null, message: `automatic deploys to ${n.service}/${n.env} were not paused` });
      return;
    }
    await history.clearPause();
    const by = parsed.data.user ?? 'api';
    const live = liveRelease(await history.list());
    await deps.audit.append({
      at: new Date().toISOString(),
      action: 'resume',
      outcome: 'resumed',
      started: true,
      user: { id: null, username: by },
      source: sourceOf(req),
      project: live?.project ?? { id: 0, path: '' },
      runId: live?.runId ?? '',
      job: `resume:${n.env}`,
      service: n.service,
      environment: n.env,
      sha: live?.sha ?? '',
      digest: live?.digest ?? null,
      rule: 'the holder of the API token',
      detail: `automatic deploys to ${n.env} resumed (paused since the rollback to release ${paused.release} by ${paused.by} at ${paused.at})`,
      reason: parsed.data.reason ?? null,
    });
    deps.logger.info({ service: n.service, environment: n.env, by }, 'automatic deploys resumed');
    res.json({ paused: null, resumed: paused, message: `automatic deploys to ${n.service}/${n.env} resumed` });
  });
  return router;
}

function sourceOf(req: Request): 'api' | 'cli' {
  return req.get(SOURCE_HEADER)?.toLowerCase() === 'cli' ? 'cli' : 'api';
}
