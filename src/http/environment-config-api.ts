import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from '../logging/logger.js';
import { configProblems, type EnvironmentConfigStore } from '../variables/environment-config.js';
import { jsonBodyErrors } from './plan-api.js';

/** A started config release, or why none could be (nothing deployed there yet). */
export type ReleaseStart = { ok: true; runId: string; fromRun: string; sha: string; image: string } | { ok: false; reason: string };

export interface EnvironmentConfigApiDeps {
  configs: EnvironmentConfigStore;
  logger: Logger;
  /** Whether (service, environment) has a live release a config release can redeploy. */
  live: (service: string, environment: string) => Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Starts the config release of a new revision (wired to deploy/config-release.ts). */
  startRelease: (input: { service: string; environment: string; revision: number; actor: string }) => Promise<ReleaseStart>;
}

const SERVICE = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;
const ENVIRONMENT = /^[a-z0-9-]{1,63}$/;
const NOTE = 'environment config is not secret: it is stored and shown as plain text; keep secrets in project variables';

/**
 * An environment's config (plain values that become the pods' environment, over the pipeline
 * file's `variables:`), behind the API token:
 * GET /api/services/:service/environments/:env/config → { revision, values, ... },
 * PUT  same { values: { KEY: "value", ... } } sets those keys (others stay),
 * DELETE same/:key removes one key.
 * A change makes a new revision and starts a config release (a run that redeploys the live image
 * with the new config): 200 { revision, values, release: { runId, ... } }. Unchanged values: 200
 * with `release: null`. 400 names every bad key or value; 409 when nothing was ever deployed to
 * the environment (nothing is stored then); 404 DELETE of a key that is not set. Values are never logged.
 */
export function createEnvironmentConfigApi(deps: EnvironmentConfigApiDeps): Router {
  const router = express.Router();
  const base = '/api/services/:service/environments/:env/config';

  const target = (req: Request, res: Response): { service: string; environment: string } | null => {
    const service = String(req.params['service']);
    const environment = String(req.params['env']);
    const problem = !SERVICE.test(service)
      ? `service: lowercase letters, digits and -, at most 42 characters (got ${JSON.stringify(service.slice(0, 60))})`
      : !ENVIRONMENT.test(environment)
        ? `environment: lowercase letters, digits and - (got ${JSON.stringify(environment.slice(0, 60))})`
        : null;
    if (problem) {
      res.status(400).json({ error: problem });
      return null;
    }
    return { service, environment };
  };

  /** Stores the change, then starts its release; answers either way. */
  const change = async (res: Response, t: { service: string; environment: string }, set: Record<string, string> | undefined, remove: string[] | undefined) => {
    const live = await deps.live(t.service, t.environment);
    if (!live.ok) {
      res.status(409).json({ error: live.reason, service: t.service, environment: t.environment });
      return;
    }
    const actor = 'api';
    const { config, changed } = await deps.configs.change(t.service, t.environment, { ...(set ? { set } : {}), ...(remove ? { remove } : {}) }, actor);
    deps.logger.info(
      { service: t.service, environment: t.environment, revision: config.revision, keys: Object.keys(set ?? {}), removed: remove, changed },
      'environment config changed',
    );
    if (!changed) {
      res.json({ ...t, ...config, release: null, reason: 'no value changed: no new revision, nothing released', note: NOTE });
      return;
    }
    const release = await deps.startRelease({ ...t, revision: config.revision, actor });
    if (!release.ok) {
      res
        .status(409)
        .json({ error: `revision ${config.revision} is stored, but no config release could start: ${release.reason}`, ...t, revision: config.revision });
      return;
    }
    deps.logger.info(
      { service: t.service, environment: t.environment, revision: config.revision, run: release.runId, from: release.fromRun },
      'config release started',
    );
    res.json({ ...t, ...config, release, note: NOTE });
  };

  router.get(base, async (req, res) => {
    const t = target(req, res);
    if (!t) return;
    res.json({ ...t, ...(await deps.configs.read(t.service, t.environment)), note: NOTE });
  });

  router.put(base, express.json({ limit: '512kb' }), async (req, res) => {
    const t = target(req, res);
    if (!t) return;
    const body: unknown = req.body;
    const values = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>)['values'] : undefined;
    const extra = typeof body === 'object' && body !== null ? Object.keys(body).filter((k) => k !== 'values') : [];
    if (typeof values !== 'object' || values === null || Array.isArray(values) || extra.length > 0) {
      res.status(400).json({ error: `body must be { values: { KEY: "value", ... } }${extra.length > 0 ? ` (unknown field ${extra.join(', ')})` : ''}` });
      return;
    }
    const existing = (await deps.configs.read(t.service, t.environment)).values;
    const problems = configProblems(values as Record<string, unknown>, existing);
    if (Object.keys(values).length === 0) problems.push('values: name at least one key to set (DELETE …/config/KEY removes one)');
    if (problems.length > 0) {
      res.status(400).json({ error: problems.join('; '), problems });
      return;
    }
    await change(res, t, values as Record<string, string>, undefined);
  });

  router.delete(`${base}/:key`, async (req, res) => {
    const t = target(req, res);
    if (!t) return;
    const key = String(req.params['key']);
    const existing = await deps.configs.read(t.service, t.environment);
    if (!Object.hasOwn(existing.values, key)) {
      res.status(404).json({ error: `${key.slice(0, 80)} is not set in the config of ${t.environment} (${t.service})`, ...t, revision: existing.revision });
      return;
    }
    await change(res, t, undefined, [key]);
  });
  router.use(jsonBodyErrors());
  return router;
}
