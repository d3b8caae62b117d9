import type { JobContext } from '../jobs/context.js';
import { withRedisLock } from '../runs/run-lock.js';
import { enqueue } from './advance-run.js';
import { finishJob } from './finish-job.js';

const ENDED = new Set(['succeeded', 'failed']);

/**
 * Starts a job waiting as `manual` (approved, or started by hand). A run that ended with only
 * manual jobs left runs again, as a GitLab pipeline does when a manual job is played; its verdict
 * is decided again when the job ends. Under the run's scheduler lock, so it never races advanceRun;
 * a job no longer `manual` is left alone (answers false).
 */
export async function startManualJob(ctx: JobContext, runId: string, name: string, reason: string): Promise<boolean> {
  const started = await withRedisLock(ctx.redis, `${ctx.store.keys.run(runId)}:advance`, async () => {
    const run = await ctx.store.get(runId);
    const job = run?.plan?.jobs.find((j) => j.name === name);
    if (!run || !job || run.jobs.find((j) => j.name === name)?.status.phase !== 'manual') return false;
    if (ENDED.has(run.status.phase)) await ctx.store.setStatus(runId, 'running', `${name} started: ${reason}`);
    await ctx.store.updateJob(runId, name, 'queued', `${reason}; waiting for a worker`);
    await ctx.store.appendLog(runId, name, 'system', `started: ${reason}`);
    await enqueue(ctx, runId, job);
    return true;
  });
  if (started) {
    await ctx.reporter.jobChanged(runId, name);
    await ctx.reporter.runChanged(runId);
  }
  return started;
}

/**
 * Ends a `manual` job as failed (a rejection), reported like any failure: the failed commit status
 * with the reason, the MR note, and the run's verdict decided again.
 */
export async function failManualJob(ctx: JobContext, runId: string, name: string, reason: string): Promise<boolean> {
  const job = await withRedisLock(ctx.redis, `${ctx.store.keys.run(runId)}:advance`, async () => {
    const run = await ctx.store.get(runId);
    const planned = run?.plan?.jobs.find((j) => j.name === name);
    if (!run || !planned || run.jobs.find((j) => j.name === name)?.status.phase !== 'manual') return undefined;
    // Reopened so the scheduler closes it again with this failure in its verdict.
    if (ENDED.has(run.status.phase)) await ctx.store.setStatus(runId, 'running', `${name}: ${reason}`);
    return planned;
  });
  if (!job) return false;
  await finishJob(ctx, runId, { name: job.name, allowFailure: false }, { phase: 'failed', reason });
  return true;
}

/** A `manual` job's new waiting reason (one approval of two recorded), shown in the MR note. */
export async function setManualReason(ctx: JobContext, runId: string, name: string, reason: string): Promise<void> {
  const job = await ctx.store.getJob(runId, name);
  if (job?.status.phase !== 'manual') return;
  await ctx.store.updateJob(runId, name, 'manual', reason);
  await ctx.reporter.runChanged(runId);
}
