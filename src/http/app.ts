import type { Queue } from 'bullmq';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type RequestHandler, type Router } from 'express';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { CorruptRecordError } from '../runs/record-reader.js';
import type { RunStore } from '../runs/run-store.js';
import { createWebhookHandler, isWebhookRequest, type WebhookDeps } from '../webhooks/receiver.js';
import { requireToken } from './auth.js';
import { createMetricsRouter, type MetricsEndpoint } from './metrics-route.js';
import { createQueueDashboard, QUEUE_DASHBOARD_PATH } from './queue-dashboard.js';
import { createRunsApi } from './runs-api.js';

export interface AppDeps {
  webhook: WebhookDeps;
  store: RunStore;
  redis: Redis | Cluster;
  /** Said by /readyz while ready (e.g. a Redis accepted with weaker durability). */
  readyWarnings?: readonly string[];
  apiToken: string;
  logger: Logger;
  /** Projects whose events may be lost (a hook GitLab disabled, silence): /readyz lists them, ready all the same. */
  lostEvents?: () => Promise<string[]>;
  /** More API routers, mounted behind the API token (plan dry-run, variables). */
  routers?: Router[];
  /** GET /metrics (absent: not served). */
  metrics?: MetricsEndpoint;
  /** The queues bull-board shows at /admin/queues, behind the API token or an admin's session (absent: not served). */
  dashboardQueues?: readonly Queue[];
  /**
   * The web UI (web/, wired in roles/http.ts): its pages, forms and log stream, and the check that
   * lets a signed-in admin read the queue dashboard. The API never looks at its session.
   */
  ui?: { router: Router; adminOnly: RequestHandler };
}

/** A request with an Authorization header is judged by the API token alone; one without, by the session (when there is a web UI). */
function dashboardGuard(apiToken: string, adminOnly: RequestHandler | undefined): RequestHandler {
  const byToken = requireToken(apiToken);
  return (req, res, next) => {
    if (!adminOnly || req.get('authorization') !== undefined || req.query['token'] !== undefined) {
      byToken(req, res, next);
      return;
    }
    void adminOnly(req, res, next);
  };
}

/**
 * Every route: POST /webhooks/gitlab straight on node:http (the hot path skips express's router,
 * which costs it more than the rest of the work, docs/benchmarks.md), everything else through express.
 */
export function createApp(deps: AppDeps): RequestListener {
  const webhook = createWebhookHandler(deps.webhook);
  const app = createExpressApp(deps);
  return (req: IncomingMessage, res: ServerResponse) => {
    if (isWebhookRequest(req)) webhook(req, res);
    else app(req, res);
  };
}

function createExpressApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  // Ready = can accept webhooks = Redis answers.
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.redis.ping();
      const warnings = deps.readyWarnings ?? [];
      const lostEvents = (await deps.lostEvents?.()) ?? [];
      res.json({ ok: true, ...(warnings.length > 0 ? { warnings } : {}), ...(lostEvents.length > 0 ? { lostEvents } : {}) });
    } catch (err) {
      res.status(503).json({ ok: false, error: `redis: ${err instanceof Error ? err.message : String(err)}` });
    }
  });
  if (deps.metrics) app.use(createMetricsRouter(deps.metrics));
  // The dashboard takes the API token in the header (scripts, proxies) or an admin's web session
  // (browsers); never a token in the URL.
  if (deps.dashboardQueues) app.use(QUEUE_DASHBOARD_PATH, dashboardGuard(deps.apiToken, deps.ui?.adminOnly), createQueueDashboard(deps.dashboardQueues));
  if (deps.ui) app.use(deps.ui.router);
  app.use('/api', requireToken(deps.apiToken));
  app.use(createRunsApi(deps.store));
  for (const r of deps.routers ?? []) app.use(r);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // Body-parser errors (bad JSON, too large) are the client's: keep their status and say what.
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      if (!res.headersSent) res.status(status).json({ error: err instanceof Error ? err.message : 'bad request' });
      return;
    }
    // A corrupt run record is ours, but the caller should learn which run and field, not just "internal error".
    if (err instanceof CorruptRecordError) {
      deps.logger.error({ run: err.runId, field: err.field, err: err.message }, 'corrupt run record');
      if (!res.headersSent) res.status(500).json({ error: err.message, run: err.runId, field: err.field });
      return;
    }
    deps.logger.error({ err }, 'request failed');
    if (!res.headersSent) res.status(500).json({ error: 'internal error' });
  });
  return app;
}
