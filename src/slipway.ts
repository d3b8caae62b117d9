import type { SlipwayConfig } from './config/config.js';
import type { Executor } from './executors/types.js';
import type { Logger } from './logging/logger.js';
import type { startHttpRole } from './roles/http.js';
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
  // Each role's modules are loaded only when it runs: the http role starts without the Kubernetes
  // client, BuildKit's protobufs and the deploy targets (start-up time, docs/benchmarks.md).
  const [planner, build, deploy, httpRole] = await Promise.all([
    roles.includes('planner') ? import('./roles/planner.js') : undefined,
    roles.includes('build') ? import('./roles/build.js') : undefined,
    roles.includes('deploy') ? import('./roles/deploy.js') : undefined,
    roles.includes('http') ? import('./roles/http.js') : undefined,
  ]);
  const shared = await openShared(config, {
    ...(opts.logDestination ? { logDestination: opts.logDestination } : {}),
    docker: roles.includes('build') || roles.includes('deploy'),
    ...(opts.executor ? { executor: opts.executor } : {}),
  });
  const workers: RunningRole[] = [];
  if (planner) workers.push(planner.startPlannerRole(shared, opts.reconcileEveryMs !== undefined ? { reconcileEveryMs: opts.reconcileEveryMs } : {}));
  if (build) workers.push(build.startBuildRole(shared));
  if (deploy) workers.push(await deploy.startDeployRole(shared));
  let http: Awaited<ReturnType<typeof startHttpRole>> | undefined;
  let status: Awaited<ReturnType<typeof startStatusListener>> | undefined;
  try {
    if (httpRole) http = await httpRole.startHttpRole(shared);
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
