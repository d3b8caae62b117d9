import type { JobContext } from '../jobs/context.js';
import type { PlannedJob } from '../planning/plan.js';
import type { JobRecord, RunSummary } from '../runs/types.js';
import { advanceRun } from './advance-run.js';

export type JobOutcome =
  | { phase: 'success'; reason: string; extra?: Partial<JobRecord> }
  | { phase: 'failed'; reason: string; exitCode?: number; extra?: Partial<JobRecord> }
  | { phase: 'canceled'; reason: string; extra?: Partial<JobRecord> };

/** A job that never started (canceled while queued) has no duration, but a deploy outcome still counts. */
function observe(ctx: JobContext, record: JobRecord, environment: string | undefined): void {
  const started = record.startedAt ? Date.parse(record.startedAt) : NaN;
  const ended = record.finishedAt ? Date.parse(record.finishedAt) : NaN;
  if (Number.isFinite(started) && Number.isFinite(ended)) ctx.metrics.jobFinished(record.kind, record.status.phase, (ended - started) / 1000);
  if (record.kind === 'deploy' && environment !== undefined) ctx.metrics.deployFinished(environment, record.status.phase);
}

/** allow_failure: true, or the exit codes listed under allow_failure: exit_codes. */
export function failureAllowed(job: Pick<PlannedJob, 'allowFailure'>, exitCode: number | undefined): boolean {
  if (job.allowFailure === true) return true;
  if (job.allowFailure === false) return false;
  return exitCode !== undefined && job.allowFailure.exitCodes.includes(exitCode);
}

/**
 * Records a job's end, reports it, and lets the scheduler start what became ready. The one way a
 * job finishes, whatever its kind, so GitLab, the API and the run's verdict always agree.
 * `request` (the run's, when the caller holds it): the job is reported as just written, without
 * reading the run again; only the job's own worker may pass it (no one else writes a running job).
 */
export async function finishJob(
  ctx: JobContext,
  runId: string,
  job: Pick<PlannedJob, 'name' | 'allowFailure'> & { environment?: string },
  outcome: JobOutcome,
  request?: RunSummary['request'],
): Promise<void> {
  const { store, reporter } = ctx;
  let record: JobRecord | undefined;
  if (outcome.phase === 'failed') {
    const allowed = failureAllowed(job, outcome.exitCode);
    record = await store.updateJob(runId, job.name, 'failed', outcome.reason, {
      ...outcome.extra,
      ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
      ...(allowed ? { allowedFailure: true } : {}),
    });
    await store.appendLog(runId, job.name, 'system', allowed ? `${outcome.reason} (allowed to fail)` : outcome.reason);
  } else if (outcome.phase === 'success') {
    record = await store.updateJob(runId, job.name, 'success', outcome.reason, outcome.extra ?? {});
  } else {
    record = await store.updateJob(runId, job.name, 'canceled', outcome.reason, outcome.extra ?? {});
  }
  if (record) observe(ctx, record, job.environment);
  await reporter.jobChanged(runId, job.name, record && request ? { run: { id: runId, request }, job: record } : undefined);
  await advanceRun(ctx, ctx.redis, runId);
}
