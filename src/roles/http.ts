import { createApp } from '../http/app.js';
import { createPlanApi } from '../http/plan-api.js';
import { createVariablesApi } from '../http/variables-api.js';
import { VariableStore } from '../variables/variable-store.js';
import { listen } from './listen.js';
import type { RunningRole, Shared } from './shared.js';
import { metricsEndpoint } from './status.js';

/**
 * The HTTP role: webhook receiver, API, run page, /metrics and the queue dashboard. It works on the fail-fast connection, so a
 * webhook is answered 503 at once when Redis is down instead of hanging.
 */
export async function startHttpRole(shared: Shared): Promise<RunningRole & { url: string | undefined }> {
  const { config, logger, store, queues } = shared;
  const app = createApp({
    store,
    routers: [
      createPlanApi({ gitlab: shared.gitlab, logger }),
      createVariablesApi({ store: new VariableStore(shared.failFastRedis, shared.variablesKey, config.redisPrefix), logger }),
    ],
    redis: shared.failFastRedis,
    readyWarnings: shared.redisWarnings,
    metrics: metricsEndpoint(shared),
    dashboardQueues: [queues.events, queues.build, queues.deploy],
    apiToken: shared.apiToken.token,
    logger,
    webhook: {
      secrets: { global: config.webhook.secret, perProject: config.webhook.projectSecrets },
      signingSecret: config.webhook.signingSecret,
      maxBodyBytes: config.webhook.maxBodyBytes,
      logger,
      metrics: shared.metrics,
      async accept(request, dedupeKey, deliveryId) {
        const { runId, created } = await store.accept(request, dedupeKey, deliveryId);
        if (!created) {
          // A resend of a delivery we stored but may not have queued (crash in between): queue it now.
          const run = await store.get(runId);
          if (run?.status.phase === 'received') await queues.enqueuePlan({ runId });
          return { runId, duplicate: true };
        }
        await queues.enqueuePlan({ runId });
        return { runId, duplicate: false };
      },
    },
  });
  return listen(app, config.http.port, config.http.host);
}
