import { DelayedError, UnrecoverableError, type Job, type Worker } from 'bullmq';
import { messageOf } from '../errors/errors.js';
import type { JobContext } from '../jobs/context.js';
import { CorruptRecordError } from '../runs/record-reader.js';
import { finishJob } from '../scheduler/finish-job.js';

/** When BullMQ gives up on a job, the run must say so instead of staying "running" forever. */
export function watchFailures<T extends object>(ctx: JobContext, worker: Worker<T>): Worker<T> {
  worker.on('failed', (job: Job<T> | undefined, err: Error) => {
    if (!job || err instanceof DelayedError || err.name === 'DelayedError') return;
    // A rollback on demand (deploy queue) records its own failure in the release history.
    const data = runJobOf(job.data);
    if (!data) return;
    const attempts = job.opts.attempts ?? 1;
    const final = job.attemptsMade >= attempts || err.name === 'UnrecoverableError';
    ctx.logger.warn({ run: data.runId, queue: worker.name, attempt: job.attemptsMade, final, err: messageOf(err) }, 'job attempt failed');
    if (!final) return;
    void (async () => {
      const reason = `${worker.name} gave up after ${job.attemptsMade} attempts: ${messageOf(err)}`;
      const name = data.job ?? (data.environment ? `deploy:${data.environment}` : undefined);
      const run = await ctx.store.get(data.runId).catch(async (e: unknown) => {
        if (!(e instanceof CorruptRecordError)) throw e;
        // The record cannot be read whole: write what can be written without reading it, so the
        // run says failed and why instead of staying "running". GitLab is not told (that needs the record).
        if (name) await ctx.store.updateJob(data.runId, name, 'failed', reason).catch(() => undefined);
        await ctx.store.setStatus(data.runId, 'failed', reason);
        return null;
      });
      if (!run || ['succeeded', 'failed', 'canceled', 'skipped'].includes(run.status.phase)) return;
      const planned = name ? run.plan?.jobs.find((j) => j.name === name) : undefined;
      if (planned) {
        await finishJob(ctx, run.id, planned, { phase: 'failed', reason });
      } else {
        await ctx.store.setStatus(run.id, 'failed', reason);
        await ctx.reporter.runChanged(run.id);
      }
    })().catch((e: unknown) => ctx.logger.error({ err: e }, 'could not record a failed job'));
  });
  worker.on('error', (err) => ctx.logger.error({ err: messageOf(err) }, 'worker error'));
  return worker;
}

/** A corrupt run record is not repaired by retrying: the queue job fails at once, with the record's problem as its reason. */
export async function failCorrupt<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof CorruptRecordError) throw new UnrecoverableError(err.message);
    throw err;
  }
}

/** A queue job of a run (plan, build, deploy): its run, and its pipeline job or environment; null for a rollback on demand. */
function runJobOf(data: object): { runId: string; job?: string; environment?: string } | null {
  const d = data as Record<string, unknown>;
  if (typeof d['runId'] !== 'string') return null;
  return {
    runId: d['runId'],
    ...(typeof d['job'] === 'string' ? { job: d['job'] } : {}),
    ...(typeof d['environment'] === 'string' ? { environment: d['environment'] } : {}),
  };
}
