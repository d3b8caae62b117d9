import { DelayedError, Worker } from 'bullmq';
import type { DeployContext } from '../deploy/deploy-context.js';
import { createDockerTarget } from '../deploy/docker-target.js';
import { runDeployJob } from '../deploy/run-deploy-job.js';
import { observeQueueWait } from '../metrics/metrics.js';
import { QUEUE_NAMES, type DeployJob } from '../queues/names.js';
import type { RunningRole, Shared } from './shared.js';
import { failCorrupt, watchFailures } from './watch-failures.js';

const DEPLOY_LOCK_RETRY_MS = 3_000;

/** The deploy role: the worker on queue "deploy", with the deploy targets this process can reach. */
export function startDeployRole(shared: Shared): RunningRole {
  const { config, jobs } = shared;
  const ctx: DeployContext = { ...jobs, targets: { docker: createDockerTarget(shared.docker) } };
  const worker = watchFailures(ctx, new Worker<DeployJob>(QUEUE_NAMES.deploy, async (job, token) => {
    observeQueueWait(shared.metrics, QUEUE_NAMES.deploy, job);
    const outcome = await failCorrupt(() => runDeployJob(ctx, job.data.runId, job.data.environment));
    if (!outcome.done) {
      // The environment is busy: wait without spending an attempt (BullMQ's DelayedError pattern).
      await job.moveToDelayed(Date.now() + DEPLOY_LOCK_RETRY_MS, token);
      throw new DelayedError();
    }
  }, { connection: shared.workerRedis, prefix: config.redisPrefix, concurrency: config.concurrency.deploy }));
  return { stop: () => worker.close() };
}
