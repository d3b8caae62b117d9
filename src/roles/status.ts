import { createStatusApp } from '../http/status-app.js';
import { listen } from './listen.js';
import type { RunningRole, Shared } from './shared.js';

/** The tokens /metrics accepts: the API token, and SLIPWAY_METRICS_TOKEN when set. */
export function metricsEndpoint(shared: Shared) {
  const tokens = [shared.apiToken.token, ...(shared.config.metrics.token ? [shared.config.metrics.token] : [])];
  return { render: () => shared.metrics.render(), tokens };
}

/**
 * With SLIPWAY_METRICS_PORT, a second listener with /metrics and /healthz, whatever the roles: a
 * worker-only process (planner, build, deploy) has no other HTTP server to be scraped on.
 */
export async function startStatusListener(shared: Shared, port: number): Promise<RunningRole & { url: string | undefined }> {
  return listen(createStatusApp(metricsEndpoint(shared)), port, shared.config.http.host);
}
