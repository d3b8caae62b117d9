import express, { type Router } from 'express';
import { requireToken } from './auth.js';

export interface MetricsEndpoint {
  /** The exposition text (prom-client's registry) and its content type. */
  render(): Promise<{ contentType: string; text: string }>;
  /** Tokens accepted in the Authorization header: the API token, and SLIPWAY_METRICS_TOKEN when set. */
  tokens: readonly string[];
}

/**
 * GET /metrics for Prometheus, behind a bearer token like the API: the metrics name projects,
 * environments and queue sizes, which strangers should not read. SLIPWAY_METRICS_TOKEN lets the
 * scraper hold a token that opens nothing else.
 */
export function createMetricsRouter(endpoint: MetricsEndpoint): Router {
  const router = express.Router();
  router.get('/metrics', requireToken(endpoint.tokens, { what: 'the token', names: 'SLIPWAY_METRICS_TOKEN or SLIPWAY_API_TOKEN' }), async (_req, res) => {
    const { contentType, text } = await endpoint.render();
    res.set('Cache-Control', 'no-store').type(contentType).send(text);
  });
  return router;
}
