import type { JobContext } from '../jobs/context.js';
import type { PlannedJob } from '../pipeline/plan.js';
import type { JobRecord } from '../runs/types.js';
import { advanceRun } from './advance-run.js';

export type JobOutcome =
  | { phase: 'success'; reason: string; extra?: Partial<JobRecord> }
  | { phase: 'failed'; reason: string; exitCode?: number; extra?: Partial<JobRecord> }
  | { phase: 'canceled'; reason: string; extra?: Partial<JobRecord> };

/** allow_failure: true, or the exit codes listed under allow_failure: exit_codes. */
export function failureAllowed(job: Pick<PlannedJob, 'allowFailure'>, exitCode: number | undefined): boolean {
  if (job.allowFailure === true) return true;
  if (job.allowFailure === false) return false;
  return exitCode !== undefined && job.allowFailure.exitCodes.includes(exitCode);
}

/**
 * Records a job's end, reports it, and lets the scheduler start what became ready. The one way a
 * job finishes, whatever its kind, so GitLab, the API and the run's verdict always agree.
 */
export async function finishJob(ctx: JobContext, runId: string, job: Pick<PlannedJob, 'name' | 'allowFailure'>, outcome: JobOutcome): Promise<void> {
  const { store, reporter } = ctx;
  if (outcome.phase === 'failed') {
    const allowed = failureAllowed(job, outcome.exitCode);
    await store.updateJob(runId, job.name, 'failed', outcome.reason, {
      ...outcome.extra,
      ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
      ...(allowed ? { allowedFailure: true } : {}),
    });
    await store.appendLog(runId, job.name, 'system', allowed ? `${outcome.reason} (allowed to fail)` : outcome.reason);
  } else if (outcome.phase === 'success') {
    await store.updateJob(runId, job.name, 'success', outcome.reason, outcome.extra ?? {});
  } else {
    await store.updateJob(runId, job.name, 'canceled', outcome.reason, outcome.extra ?? {});
  }
  await reporter.jobChanged(runId, job.name);
  await advanceRun(ctx, ctx.redis, runId);
}
