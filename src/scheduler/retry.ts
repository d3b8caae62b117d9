import { approvalsKey } from '../approvals/approvals.js';
import type { JobContext } from '../jobs/context.js';
import { withRedisLock } from '../runs/run-lock.js';
import type { RunRecord } from '../runs/types.js';
import { advanceRun } from './advance-run.js';

const RETRIED = new Set(['failed', 'canceled']);
const LEFT_BEHIND = new Set(['skipped', 'canceled']);
const ENDED = new Set(['succeeded', 'failed', 'canceled']);

export type RetryResult = { retried: string[] } | { refused: string };

/**
 * GitLab's "Retry" of a pipeline: its failed and canceled jobs run again, and so do the jobs that
 * were skipped or canceled because of them (downstream through `needs`); the run reopens and the
 * scheduler decides each again (a gated deploy waits for new approvals). Under the run's scheduler
 * lock, so it never races advanceRun or an approval.
 */
export async function retryFailedJobs(ctx: JobContext, run: RunRecord, reason: string): Promise<RetryResult> {
  const { store } = ctx;
  const result = await withRedisLock(ctx.redis, `${store.keys.run(run.id)}:advance`, async (): Promise<RetryResult> => {
    const now = await store.get(run.id);
    const plan = now?.plan;
    if (!now || !plan) return { refused: `run ${run.id} has no plan` };
    const phase = new Map(now.jobs.map((j) => [j.name, j.status.phase]));
    const reset = new Set(now.jobs.filter((j) => RETRIED.has(j.status.phase)).map((j) => j.name));
    if (reset.size === 0) return { refused: `nothing in run ${run.id} failed or was canceled` };
    // Plan order is topological: one pass collects everything downstream.
    for (const job of plan.jobs) {
      if (LEFT_BEHIND.has(phase.get(job.name) ?? '') && job.needs.some((n) => reset.has(n))) reset.add(job.name);
    }
    const jobs = plan.jobs.filter((j) => reset.has(j.name));
    for (const job of jobs) {
      const gone =
        job.kind === 'deploy'
          ? await ctx.queues.forgetDeploy({ runId: run.id, environment: job.environment })
          : await ctx.queues.forgetBuild({ runId: run.id, job: job.name });
      if (!gone) return { refused: `${job.name} of run ${run.id} is still finishing: try again in a moment` };
    }
    // A canceled run's key would stop the retried steps at once.
    await ctx.redis.del(store.keys.cancel(run.id));
    if (ENDED.has(now.status.phase)) await store.setStatus(run.id, 'running', reason);
    for (const job of jobs) {
      await ctx.redis.del(approvalsKey(ctx.config.redisPrefix, run.id, job.name));
      await store.resetJob(run.id, job.name, reason);
      await store.appendLog(run.id, job.name, 'system', reason);
    }
    return { retried: jobs.map((j) => j.name) };
  });
  if ('retried' in result) {
    for (const name of result.retried) await ctx.reporter.jobChanged(run.id, name);
    await ctx.reporter.runChanged(run.id);
    await advanceRun(ctx, ctx.redis, run.id);
  }
  return result;
}
