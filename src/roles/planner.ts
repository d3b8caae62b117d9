import { Worker } from 'bullmq';
import { startOutboxDispatcher } from '../notify/outbox.js';
import { planRun } from '../planner/plan-run.js';
import { observeQueueWait } from '../metrics/metrics.js';
import { QUEUE_NAMES, type PlanJob } from '../queues/names.js';
import { startPlanFeed } from '../queues/plan-feed.js';
import { startReconciler } from '../reconcile/reconciler.js';
import { ProjectWatch } from '../runs/project-watch.js';
import type { RunningRole, Shared } from './shared.js';
import { failCorrupt, watchFailures } from './watch-failures.js';

const RECONCILE_EVERY_MS = 30_000;

/**
 * The planner role: the worker on queue "events", the reconciler for runs stored but never queued,
 * the reconciler with GitLab for events its webhooks dropped (reconcile/), the plan feed (runs webhooks
 * stored, into the queue) and the outbox's dispatcher.
 */
export function startPlannerRole(shared: Shared, opts: { reconcileEveryMs?: number } = {}): RunningRole {
  const { config, jobs: ctx, logger, metrics } = shared;
  // Workers get the worker connection; BullMQ duplicates it for its blocking reads.
  const worker = watchFailures(
    ctx,
    new Worker<PlanJob>(
      QUEUE_NAMES.events,
      async (job) => {
        observeQueueWait(metrics, QUEUE_NAMES.events, job);
        const started = performance.now();
        try {
          await failCorrupt(() => planRun(ctx, job.data.runId));
        } catch (err) {
          metrics.jobFinished('plan', 'failed', (performance.now() - started) / 1000);
          throw err;
        }
        // A pipeline file with problems is planned work too, but the run failed: so does the plan.
        const run = await ctx.store.summary(job.data.runId).catch(() => null);
        metrics.jobFinished('plan', run?.status.phase === 'failed' ? 'failed' : 'success', (performance.now() - started) / 1000);
      },
      {
        connection: shared.workerRedis,
        prefix: config.redisPrefix,
        concurrency: config.concurrency.planner,
      },
    ),
  );
  // Webhooks put their runs on the plan feed in the step that stores them; this moves them into the queue.
  const feed = startPlanFeed({
    connection: shared.workerRedis,
    listKey: ctx.store.keys.planFeed,
    events: ctx.queues.events,
    onError: (err) => logger.warn({ err: err.message }, 'plan feed could not queue runs; retrying'),
  });
  // Sends what the outbox keeps (chat messages, the MR note), whichever process put it there.
  const dispatcher = startOutboxDispatcher({
    connection: shared.workerRedis,
    prefix: config.redisPrefix,
    config: config.notify,
    store: ctx.store,
    logger,
    writeNote: (projectId, iid) => ctx.reporter.writeCommandNote(projectId, iid),
  });
  const every = opts.reconcileEveryMs ?? RECONCILE_EVERY_MS;
  const reconcile = async () => {
    // A crash between storing a run and queueing it leaves it "received": queue it again (idempotent by job id).
    for (const runId of await ctx.store.staleReceived(every)) {
      logger.warn({ run: runId }, 'run was stored but never queued; queueing it now');
      await ctx.queues.enqueuePlan({ runId });
    }
  };
  const timer = setInterval(() => void reconcile().catch((err: unknown) => logger.warn({ err }, 'reconcile failed')), every);
  const gitlabReconciler = startReconciler(
    {
      gitlab: ctx.gitlab,
      store: ctx.store,
      watch: new ProjectWatch(shared.workerRedis, config.redisPrefix),
      queues: ctx.queues,
      logger,
    },
    config.reconcile,
  );
  return {
    async stop() {
      clearInterval(timer);
      await feed.stop();
      await gitlabReconciler.stop();
      await worker.close();
      await dispatcher.stop();
    },
  };
}
