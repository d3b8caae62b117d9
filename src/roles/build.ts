import { DelayedError, Worker } from 'bullmq';
import type { BuildContext } from '../build-queue/build-context.js';
import { runPipelineJob } from '../build-queue/run-pipeline-job.js';
import { openStores } from '../build-queue/stores.js';
import { startArtifactSweeper } from '../caches/sweep.js';
import { createImageBuilder } from './create-image-builder.js';
import { observeQueueWait } from '../metrics/metrics.js';
import { QUEUE_NAMES, type BuildJob } from '../queues/names.js';
import type { RunningRole, Shared } from './shared.js';
import { failCorrupt, watchFailures } from './watch-failures.js';

/**
 * The build role: the worker on queue "build" (script, image and sonar jobs), the mirror heartbeat,
 * and the sweep that deletes expired artifacts from the registry.
 */
export function startBuildRole(shared: Shared): RunningRole {
  const { config, jobs } = shared;
  const ctx: BuildContext = { ...jobs, imageBuilder: createImageBuilder(config.imageBuilder, { docker: shared.docker, registry: config.registry.host }) };
  const stopHeartbeat = jobs.affinity?.startHeartbeat();
  const { store, index } = openStores(config, shared.workerRedis);
  const stopSweeper = startArtifactSweeper(store, index, config.store.sweepEveryMs, (r) => {
    if (r instanceof Error) shared.logger.warn({ err: r.message }, 'artifact sweep failed');
    else if (r.deleted.length > 0 || r.failed.length > 0) shared.logger.info({ deleted: r.deleted.length, failed: r.failed }, 'expired artifacts deleted');
  });
  const worker = watchFailures(
    ctx,
    new Worker<BuildJob>(
      QUEUE_NAMES.build,
      async (job, token, signal) => {
        observeQueueWait(shared.metrics, QUEUE_NAMES.build, job);
        const result = await failCorrupt(() => runPipelineJob(ctx, job.data.runId, job.data.job, job.timestamp, signal));
        if (!result.done) {
          // A limit is full or another node holds the mirror: wait without spending an attempt; the record says why.
          await job.moveToDelayed(Date.now() + result.retryInMs, token);
          throw new DelayedError();
        }
      },
      {
        connection: shared.workerRedis,
        prefix: config.redisPrefix,
        concurrency: config.concurrency.build,
        lockDuration: 60_000,
      },
    ),
  );
  return {
    async stop() {
      stopHeartbeat?.();
      stopSweeper();
      await worker.close();
    },
  };
}
