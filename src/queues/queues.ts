import { createHash } from 'node:crypto';
import { Queue, type JobsOptions, type ConnectionOptions } from 'bullmq';
import { QUEUE_NAMES, type BuildJob, type DeployJob, type PlanJob, type RollbackJob } from './names.js';

/**
 * The only place that knows BullMQ options. Job ids are idempotency keys, so adding the same
 * job twice (a resent delivery, a retried worker) queues it once.
 */
const defaults: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

export interface Queues {
  events: Queue<PlanJob>;
  build: Queue<BuildJob>;
  deploy: Queue<DeployJob | RollbackJob>;
  enqueuePlan(job: PlanJob): Promise<void>;
  enqueueBuild(job: BuildJob): Promise<void>;
  enqueueDeploy(job: DeployJob): Promise<void>;
  /**
   * Drops a finished queue job so the same job id can be queued again (a retried pipeline job).
   * False when it is still held by a worker (it is finishing): it cannot be queued again yet.
   */
  forgetBuild(job: BuildJob): Promise<boolean>;
  forgetDeploy(job: DeployJob): Promise<boolean>;
  enqueueRollback(job: RollbackJob): Promise<void>;
  close(): Promise<void>;
}

export function createQueues(connection: ConnectionOptions, onError: (err: Error) => void, prefix = 'slipway'): Queues {
  const events = new Queue<PlanJob>(QUEUE_NAMES.events, { connection, prefix, defaultJobOptions: defaults });
  const build = new Queue<BuildJob>(QUEUE_NAMES.build, { connection, prefix, defaultJobOptions: { ...defaults, attempts: 3 } });
  const deploy = new Queue<DeployJob | RollbackJob>(QUEUE_NAMES.deploy, { connection, prefix, defaultJobOptions: { ...defaults, attempts: 3 } });
  for (const q of [events, build, deploy] as Queue[]) q.on('error', onError);
  return {
    events,
    build,
    deploy,
    async enqueuePlan(job) {
      await events.add('plan', job, { jobId: planJobId(job.runId) });
    },
    async enqueueBuild(job) {
      // Job names are free text (may hold ':' which BullMQ ids cannot): key by a hash of the name.
      await build.add('build', job, { jobId: buildId(job) });
    },
    async enqueueDeploy(job) {
      await deploy.add('deploy', job, { jobId: deployId(job) });
    },
    async forgetBuild(job) {
      return forget(build, buildId(job));
    },
    async forgetDeploy(job) {
      return forget(deploy, deployId(job));
    },
    async enqueueRollback(job) {
      // One attempt: a failed rollback is recorded in its entry; asking again is the person's call.
      await deploy.add('rollback', job, { jobId: `rollback.${nameKey(`${job.service}:${job.environment}`)}.${job.release}`, attempts: 1 });
    },
    async close() {
      await Promise.all([events.close(), build.close(), deploy.close()]);
    },
  };
}

/** One planner job per run, whoever queues it (the plan feed, the sweep, a run started by hand). */
export const planJobId = (runId: string) => `plan.${runId}`;
const buildId = (job: BuildJob) => `build.${job.runId}.${nameKey(job.job)}`;
const deployId = (job: DeployJob) => `deploy.${job.runId}.${nameKey(job.environment)}`;

async function forget(queue: Queue, id: string): Promise<boolean> {
  if (!(await queue.getJob(id))) return true;
  return (await queue.remove(id)) === 1;
}

function nameKey(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 16);
}
