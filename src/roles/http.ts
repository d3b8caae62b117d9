import { Approvals } from '../approvals/approvals.js';
import { runMrCommand } from '../approvals/mr-commands.js';
import { createApp } from '../http/app.js';
import { createApprovalsApi } from '../http/approvals-api.js';
import { createPlanApi } from '../http/plan-api.js';
import { createReleasesApi } from '../http/releases-api.js';
import { createDoraApi } from '../http/dora-api.js';
import { ChangeStarts } from '../dora/lead-time.js';
import { ReleaseHistories } from '../releases/release-history.js';
import type { RollbackJobData } from '../releases/rollback.js';
import { createStartRunApi } from '../http/start-run-api.js';
import { createVariablesApi } from '../http/variables-api.js';
import { createEnvironmentConfigApi } from '../http/environment-config-api.js';
import { liveRelease, startConfigRelease } from '../deploy/config-release.js';
import { EnvironmentConfigStore } from '../variables/environment-config.js';
import { createWatchApi, lostEventLines } from '../http/watch-api.js';
import { ProjectWatch } from '../runs/project-watch.js';
import type { RunRecord } from '../runs/types.js';
import { cancelRun } from '../scheduler/cancel.js';
import { retryFailedJobs } from '../scheduler/retry.js';
import { failManualJob, setManualReason, startManualJob } from '../scheduler/manual-step.js';
import { VariableStore } from '../variables/variable-store.js';
import { createWebUi } from '../web/web-ui.js';
import { listen } from './listen.js';
import type { RunningRole, Shared } from './shared.js';
import { metricsEndpoint } from './status.js';

/**
 * The HTTP role: webhook receiver, API, web UI, /metrics and the queue dashboard. It works on the fail-fast connection, so a
 * webhook is answered 503 at once when Redis is down instead of hanging.
 */
export async function startHttpRole(shared: Shared): Promise<RunningRole & { url: string | undefined }> {
  const { config, logger, store, queues } = shared;
  // Approving starts the step through the scheduler, with the context every job gets.
  const approvals = new Approvals({
    store,
    gitlab: shared.gitlab,
    redis: shared.failFastRedis,
    prefix: config.redisPrefix,
    gate: {
      start: async (runId, job, reason) => void (await startManualJob(shared.jobs, runId, job, reason)),
      fail: async (runId, job, reason) => void (await failManualJob(shared.jobs, runId, job, reason)),
      stillWaiting: (runId, job, reason) => setManualReason(shared.jobs, runId, job, reason),
    },
  });
  const commandDeps = {
    approvals,
    store,
    gitlab: shared.gitlab,
    answer: (projectId: number, iid: number, line: string) => shared.jobs.reporter.commandAnswered(projectId, iid, line),
    cancel: (run: RunRecord, reason: string) => cancelRun(shared.jobs, run, reason),
    retry: (run: RunRecord, reason: string) => retryFailedJobs(shared.jobs, run, reason),
  };
  const enqueuePlan = async (runId: string) => void (await queues.enqueuePlan({ runId }));
  const releaseDeps = { redis: shared.failFastRedis, store, enqueuePlan };
  const watch = new ProjectWatch(shared.failFastRedis, config.redisPrefix);
  const histories = new ReleaseHistories(shared.failFastRedis, shared.variablesKey, config.redisPrefix);
  // Called once per accepted rollback on demand (API, CLI or web UI): counted as one.
  const enqueueRollback = async (job: RollbackJobData) => {
    await queues.enqueueRollback(job);
    shared.metrics.rollbackRequested(job.environment);
  };
  const dora = { histories, starts: new ChangeStarts({ runs: store, gitlab: shared.gitlab }) };
  const ui = createWebUi({
    store,
    gitlab: shared.gitlab,
    gitlabUrl: config.gitlab.url,
    approvals,
    redis: shared.failFastRedis,
    prefix: config.redisPrefix,
    cookies: { publicHttps: config.http.publicUrl.startsWith('https:'), trustProxy: config.ui.trustProxy },
    admins: config.ui.admins,
    sessionTtlSeconds: config.ui.sessionTtlSeconds,
    ...(config.ui.oauth ? { oauth: { ...config.ui.oauth, apiUrl: config.gitlab.url } } : {}),
    logger,
    cancel: (run, reason) => cancelRun(shared.jobs, run, reason),
    enqueuePlan,
    histories,
    dora,
    enqueueRollback,
  });
  const app = createApp({
    ui,
    store,
    lostEvents: () => lostEventLines(watch),
    routers: [
      createWatchApi(watch),
      createPlanApi({ gitlab: shared.gitlab, logger }),
      createStartRunApi({ store, gitlab: shared.gitlab, logger, enqueuePlan }),
      createApprovalsApi({ approvals, logger }),
      createDoraApi(dora),
      createReleasesApi({
        histories,
        audit: approvals.audit,
        enqueueRollback,
        logger,
      }),
      createVariablesApi({ store: new VariableStore(shared.failFastRedis, shared.variablesKey, config.redisPrefix), logger }),
      createEnvironmentConfigApi({
        configs: new EnvironmentConfigStore(shared.failFastRedis, config.redisPrefix),
        logger,
        live: async (service, environment) => {
          const live = await liveRelease(releaseDeps, service, environment);
          return live.ok ? { ok: true } : live;
        },
        startRelease: (input) => startConfigRelease(releaseDeps, input),
      }),
    ],
    redis: shared.failFastRedis,
    readyWarnings: shared.redisWarnings,
    metrics: metricsEndpoint(shared),
    dashboardQueues: [queues.events, queues.build, queues.deploy, shared.outbox.queue],
    apiToken: shared.apiToken.token,
    logger,
    webhook: {
      secrets: { global: config.webhook.secret, perProject: config.webhook.projectSecrets },
      signingSecret: config.webhook.signingSecret,
      maxBodyBytes: config.webhook.maxBodyBytes,
      logger,
      metrics: shared.metrics,
      // Once per delivery (GitLab resends a hook it thinks failed); a failure is logged, the comment can be posted again.
      command(cmd, dedupeKey) {
        void (async () => {
          if (!(await store.claimOnce(`mr-command:${cmd.project.id}:${dedupeKey}`))) return;
          const answer = await runMrCommand(commandDeps, cmd);
          logger.info({ project: cmd.project.id, mr: cmd.iid, user: cmd.user.id, answer: answer ?? 'ignored: our own note' }, 'merge request command');
        })().catch((err: unknown) => logger.error({ err, project: cmd.project.id, mr: cmd.iid }, 'merge request command failed'));
      },
      // One Redis round trip: the run, its place on the plan feed (the planner role queues it) and
      // the reconciler's "this project sent a webhook" are stored together.
      async accept(request, dedupeKey, deliveryId) {
        const { runId, created } = await store.acceptDelivery(request, dedupeKey, deliveryId);
        return { runId, duplicate: !created };
      },
    },
  });
  return listen(app, config.http.port, config.http.host);
}
