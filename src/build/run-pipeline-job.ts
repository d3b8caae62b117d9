import { UnrecoverableError } from 'bullmq';
import type { JobContext } from '../jobs/context.js';
import type { Plan } from '../pipeline/plan.js';
import { advanceRun } from '../scheduler/advance-run.js';
import { finishJob, type JobOutcome } from '../scheduler/finish-job.js';
import { ImageNotFoundError } from '../executors/docker-errors.js';
import { messageOf, PermanentError } from '../errors/errors.js';
import { runImageJob } from './run-image-job.js';
import { runScriptJob } from './run-script-job.js';
import { runSonarJob } from './run-sonar-job.js';

const FINISHED = new Set(['success', 'failed', 'skipped', 'canceled']);

/**
 * A build-queue job: one script, image or sonar job of a run. Idempotent: a job already finished
 * (a redelivered queue job) only nudges the scheduler; a job of a finished run does nothing.
 */
export async function runPipelineJob(ctx: JobContext, runId: string, jobName: string, signal?: AbortSignal): Promise<void> {
  const run = await ctx.store.get(runId);
  if (!run?.planJson) throw new UnrecoverableError(`run ${runId} has no plan`);
  const job = (JSON.parse(run.planJson) as Plan).jobs.find((j) => j.name === jobName);
  if (!job || job.kind === 'deploy') throw new UnrecoverableError(`run ${runId} plans no build job '${jobName}'`);
  const record = run.jobs.find((j) => j.name === jobName);
  if (run.status.phase !== 'running' || !record || FINISHED.has(record.status.phase)) {
    await advanceRun(ctx, ctx.redis, runId);
    return;
  }
  let outcome: JobOutcome;
  try {
    outcome = job.kind === 'script'
      ? await runScriptJob(ctx, run, job, signal)
      : job.kind === 'image'
        ? await runImageJob(ctx, run, job)
        : await runSonarJob(ctx, run, job, signal);
  } catch (err) {
    // Retrying cannot bring a missing image or a bad setting into being: fail the job now.
    // Anything else (engine or git unreachable) is thrown to BullMQ, which retries with backoff.
    if (!(err instanceof ImageNotFoundError || err instanceof PermanentError)) throw err;
    outcome = { phase: 'failed', reason: messageOf(err) };
  }
  await finishJob(ctx, runId, job, outcome);
}
