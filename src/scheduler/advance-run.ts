import type { Cluster, Redis } from 'ioredis';
import type { JobContext } from '../jobs/context.js';
import type { PlannedJob } from '../planning/plan.js';
import { withRedisLock } from '../runs/run-lock.js';
import type { JobRecord } from '../runs/types.js';
import { decide, optionalManual, verdict } from './decide.js';

const FINAL_RUN = new Set(['succeeded', 'failed', 'canceled', 'skipped']);

/**
 * The DAG scheduler: after the plan is recorded and after every job finishes, start what became
 * ready, skip what can no longer run, and close the run when nothing is left. Any worker may call
 * it at any time; a per-run lock makes concurrent calls take turns, and job ids make enqueueing
 * idempotent, so calling it twice changes nothing.
 */
export async function advanceRun(ctx: JobContext, redis: Redis | Cluster, runId: string): Promise<void> {
  await withRedisLock(redis, `${ctx.store.keys.run(runId)}:advance`, async () => {
    const run = await ctx.store.get(runId);
    const plan = run?.plan;
    if (!run || !plan || FINAL_RUN.has(run.status.phase)) return;
    const records = new Map(run.jobs.map((j) => [j.name, j]));
    const planned = new Map(plan.jobs.map((j) => [j.name, j]));
    const changed: string[] = [];
    // What this pass wrote: reported as written (under this lock, which cancel takes too, nothing else changes these jobs).
    const written = new Map<string, JobRecord>();
    const set = async (name: string, phase: JobRecord['status']['phase'], reason: string) => {
      const updated = await ctx.store.updateJob(runId, name, phase, reason);
      if (updated) {
        records.set(name, updated);
        written.set(name, updated);
      }
      // Queued is still "pending" to GitLab, which the planner already posted.
      if (phase !== 'queued') changed.push(name);
    };

    // Plan order is topological: one pass settles every job whose needs are settled.
    for (const job of plan.jobs) {
      const rec = records.get(job.name);
      if (rec?.status.phase !== 'pending') continue;
      const d = decide(
        job,
        job.needs.map((n) => records.get(n)),
        run.request.project.path,
        (n) => {
          const need = planned.get(n);
          return need !== undefined && optionalManual(job, need);
        },
      );
      if (d.kind === 'wait') {
        // Kept in `records` too: the check below must see "waiting for manual job" written in this pass.
        if (rec.status.reason !== d.reason) {
          const updated = await ctx.store.updateJob(runId, job.name, 'pending', d.reason);
          if (updated) records.set(job.name, updated);
        }
      } else if (d.kind === 'skip') {
        await set(job.name, 'skipped', d.reason);
      } else if (d.kind === 'manual') {
        await set(job.name, 'manual', d.reason);
        if (job.kind === 'deploy' && job.approval) await ctx.store.awaitingApproval(runId, job.name);
      } else {
        await set(job.name, 'queued', 'waiting for a worker');
        await enqueue(ctx, runId, job);
      }
    }
    for (const name of changed) {
      const job = written.get(name);
      await ctx.reporter.jobChanged(runId, name, job && { run, job });
    }

    const all = [...records.values()];
    const busy = all.some((j) => j.status.phase === 'queued' || j.status.phase === 'running');
    const stuckOnManual = all.every((j) => j.status.phase !== 'pending' || j.status.reason.startsWith('waiting for manual job'));
    if (!busy && stuckOnManual) {
      const v = verdict(all);
      await ctx.store.setStatus(runId, v.phase, v.reason);
      await ctx.reporter.runChanged(runId);
    }
  });
}

/** Hands a ready job to its queue; the job id (run + job) makes a second call a no-op. */
export async function enqueue(ctx: JobContext, runId: string, job: PlannedJob): Promise<void> {
  if (job.kind === 'deploy') await ctx.queues.enqueueDeploy({ runId, environment: job.environment });
  else await ctx.queues.enqueueBuild({ runId, job: job.name });
}
