import express, { type Express } from 'express';
import { createMetricsRouter, type MetricsEndpoint } from './metrics-route.js';

/**
 * The second listener (SLIPWAY_METRICS_PORT): /metrics and /healthz only. Processes without the
 * HTTP role (planner, build, deploy workers) are scraped and health-checked here.
 */
export function createStatusApp(metrics: MetricsEndpoint): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(createMetricsRouter(metrics));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found: this port serves /metrics and /healthz only' });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (!res.headersSent) res.status(500).json({ error: `metrics: ${err instanceof Error ? err.message : String(err)}` });
  });
  return app;
}
