import type { SlipwayConfig } from './config/config.js';
import type { Executor } from './executors/types.js';
import type { Logger } from './logging/logger.js';
import { ALL_ROLES, openShared, type Role, type RunningRole } from './roles/shared.js';
import { startStatusListener } from './roles/status.js';
import type { RunStore } from './runs/run-store.js';

export { ALL_ROLES, type Role };

export interface Slipway {
  url: string | undefined;
  /** The SLIPWAY_METRICS_PORT listener (/metrics, /healthz), when configured. */
  metricsUrl: string | undefined;
  apiToken: string;
  apiTokenFile: string | undefined;
  store: RunStore;
  logger: Logger;
  stop(): Promise<void>;
}

/**
 * Starts the roles asked for in this process. `src/main.ts` runs them all (the embedded default);
 * workers/ entrypoints run one each. Everything shared lives in Redis, so any number of processes
 * can serve the same queues. Each role is wired in its own file under roles/; this only composes.
 */
export async function startSlipway(
  config: SlipwayConfig,
  roles: readonly Role[] = ALL_ROLES,
  opts: { logDestination?: NodeJS.WritableStream; reconcileEveryMs?: number; executor?: Executor } = {},
): Promise<Slipway> {
  const shared = await openShared(config, {
    ...(opts.logDestination ? { logDestination: opts.logDestination } : {}),
    ...(opts.executor ? { executor: opts.executor } : {}),
  });
  // Each role's module is loaded only when the role runs here: a process of one role does not hold
  // what the others need (the deploy role's Kubernetes client, the HTTP role's express and queue
  // dashboard), which keeps worker processes small (docs/benchmarks.md, memory).
  const workers: RunningRole[] = [];
  if (roles.includes('planner')) {
    const { startPlannerRole } = await import('./roles/planner.js');
    workers.push(startPlannerRole(shared, opts.reconcileEveryMs !== undefined ? { reconcileEveryMs: opts.reconcileEveryMs } : {}));
  }
  if (roles.includes('build')) workers.push((await import('./roles/build.js')).startBuildRole(shared));
  if (roles.includes('deploy')) workers.push(await (await import('./roles/deploy.js')).startDeployRole(shared));
  let http: Awaited<ReturnType<typeof import('./roles/http.js').startHttpRole>> | undefined;
  let status: Awaited<ReturnType<typeof startStatusListener>> | undefined;
  try {
    if (roles.includes('http')) http = await (await import('./roles/http.js')).startHttpRole(shared);
    if (shared.config.metrics.port !== undefined) status = await startStatusListener(shared, shared.config.metrics.port);
  } catch (err) {
    // The port is taken (or the like): do not leave the workers and Redis running behind the error.
    await http?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await shared.close();
    throw err;
  }
  if (http) shared.logger.info({ url: http.url, roles }, 'slipway listening');
  if (status) shared.logger.info({ url: status.url }, 'metrics and health listening');

  let stopped = false;
  return {
    url: http?.url,
    metricsUrl: status?.url,
    apiToken: shared.apiToken.token,
    apiTokenFile: shared.apiToken.file,
    store: shared.store,
    logger: shared.logger,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Order matters: stop taking webhooks, let running jobs finish, then close queues and Redis.
      await http?.stop();
      await status?.stop();
      await Promise.all(workers.map((w) => w.stop()));
      await shared.close();
    },
  };
}
