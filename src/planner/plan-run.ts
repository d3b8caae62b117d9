import { UnrecoverableError } from 'bullmq';
import type { GitlabClient } from '../gitlab/client.js';
import type { JobContext } from '../jobs/context.js';
import { compilePipeline } from '../pipeline/compile.js';
import { formatProblem } from '../pipeline/errors.js';
import type { IncludeReader } from '../pipeline/include.js';
import { planPipeline, type Plan } from '../pipeline/plan.js';
import type { JobRecord } from '../runs/types.js';
import type { PipelineRequest } from '../triggers/types.js';

export const PIPELINE_FILE = '.slipway.yml';

/** Included files come from GitLab: the project's own at the run's SHA, others at their ref. */
export function gitlabIncludeReader(gitlab: GitlabClient, request: Pick<PipelineRequest, 'project' | 'sha'>): IncludeReader {
  return {
    local: (path) => gitlab.readFile(request.project.id, path, request.sha),
    project: (projectPath, ref, path) => gitlab.readProjectFile(projectPath, path, ref),
  };
}

/**
 * The planner job: read the pipeline file at the exact SHA, compile (includes, extends), plan,
 * record, post pending statuses, enqueue the build. Idempotent: a retried planner finds the plan
 * already recorded and only makes sure the next hop is queued.
 */
export async function planRun(ctx: JobContext, runId: string): Promise<void> {
  const { store, reporter, gitlab } = ctx;
  const log = ctx.logger.child({ run: runId, job: 'plan' });
  const run = await store.get(runId);
  if (!run) throw new UnrecoverableError(`run ${runId} does not exist (expired?)`);
  if (run.planJson) {
    if (run.status.phase === 'running') await enqueueFirst(ctx, runId, JSON.parse(run.planJson) as Plan);
    return;
  }
  await store.setStatus(runId, 'planning', `reading ${PIPELINE_FILE} at ${run.request.sha.slice(0, 8)}`);
  const { project, sha } = run.request;
  const text = await gitlab.readFile(project.id, PIPELINE_FILE, sha);
  if (text === null) {
    await fail(ctx, runId, `no ${PIPELINE_FILE} at ${sha.slice(0, 8)}: commit one at the repository root`);
    return;
  }
  const compiled = await compilePipeline(text, { fileName: PIPELINE_FILE, reader: gitlabIncludeReader(gitlab, run.request) });
  if (!compiled.ok) {
    const reason = compiled.problems.map(formatProblem).join('\n');
    for (const p of compiled.problems) await store.appendLog(runId, 'plan', 'system', formatProblem(p));
    await fail(ctx, runId, reason);
    return;
  }
  // changes: holds when the changed files are not known (GitLab's rule for pipelines without a
  // base); the build side can pass them from the mirror (pipeline/changed-files.ts).
  const plan = planPipeline(compiled.file, run.request, { pipelineId: runId });
  const now = new Date().toISOString();
  const jobs: JobRecord[] = plan.jobs.map((j) => ({
    name: j.name, kind: j.kind, stage: j.stage,
    status: { phase: 'pending', reason: j.when === 'manual' ? 'waiting for someone to start it' : 'waiting for earlier jobs', at: now },
    startedAt: undefined, finishedAt: undefined, exitCode: undefined,
  }));
  for (const s of plan.skipped) await store.appendLog(runId, 'plan', 'system', `skipped ${s.name}: ${s.reason}`);
  await store.setPlan(runId, JSON.stringify(plan), jobs);
  if (jobs.length === 0) {
    await store.setStatus(runId, 'skipped', plan.skipped[0]?.reason ?? 'no jobs to run for this event');
    await reporter.runChanged(runId);
    return;
  }
  await store.setStatus(runId, 'running', `${jobs.length} jobs planned`);
  log.info({ jobs: jobs.map((j) => j.name) }, 'run planned');
  for (const j of jobs) await reporter.jobChanged(runId, j.name);
  await reporter.runChanged(runId);
  await enqueueFirst(ctx, runId, plan);
}

async function enqueueFirst(ctx: JobContext, runId: string, plan: Plan): Promise<void> {
  const first = plan.jobs[0];
  if (!first) return;
  if (first.kind === 'deploy') await ctx.queues.enqueueDeploy({ runId, environment: first.environment });
  else await ctx.queues.enqueueBuild({ runId });
}

async function fail(ctx: JobContext, runId: string, reason: string): Promise<void> {
  await ctx.store.setStatus(runId, 'failed', reason);
  await ctx.store.appendLog(runId, 'plan', 'system', reason);
  await ctx.reporter.runChanged(runId);
}
