import { UnrecoverableError } from 'bullmq';
import type { GitlabClient } from '../gitlab/client.js';
import type { JobContext } from '../jobs/context.js';
import { compilePipeline } from '../pipeline/compile.js';
import { formatProblem } from '../pipeline/errors.js';
import type { IncludeReader } from '../pipeline/include.js';
import { planPipeline, type Plan } from '../planning/plan.js';
import type { JobRecord, RunRecord } from '../runs/types.js';
import { mirrorFor } from '../jobs/work-tree.js';
import { diffBaseFor } from '../jobs/diff-base.js';
import { ruleVariablesFor } from '../jobs/job-variables.js';
import { messageOf } from '../errors/errors.js';
import { changedFilesFromMirror, repoFilesFromMirror } from '../planning/changed-files.js';
import { advanceRun } from '../scheduler/advance-run.js';
import { cancelSuperseded } from '../scheduler/cancel.js';
import type { PipelineRequest } from '../triggers/types.js';
import { planConfigRelease } from '../planning/config-release-plan.js';
import { reusableImageFor } from './config-only-image.js';

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
  if (run.plan) {
    // A retried planner: the plan is recorded; make sure the first jobs were handed out.
    if (run.status.phase === 'running') await advanceRun(ctx, ctx.redis, runId);
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
  // Project variables take part in rules and image: (docs/pipeline-file.md); never recorded themselves.
  const variables = await ruleVariablesFor(ctx.variables, run);
  const release = run.request.configRelease;
  let plan: Plan;
  if (run.request.event === 'config' && release) {
    // A config release: the live image again, recorded before any job can read it.
    await store.setImage(runId, { ...release.image, tags: [] });
    plan = planConfigRelease(compiled.file, run.request, release, { pipelineId: runId, variables });
  } else {
    // changes:/exists: need the file lists; when the mirror cannot give them, changes: holds (GitLab's
    // rule for pipelines without a base) and the run says so in its log.
    const files = await fileListsFor(ctx, run).catch(async (err: unknown) => {
      await store.appendLog(runId, 'plan', 'system', `changed files unknown (${messageOf(err)}): rules with changes: count as true`);
      return {};
    });
    const { base, ...lists }: { base?: string; changedFiles?: string[]; repoFiles?: string[] } = files;
    const compileAt = async (at: string) => {
      const before = await gitlab.readFile(project.id, PIPELINE_FILE, at);
      if (before === null) return null;
      const c = await compilePipeline(before, { fileName: PIPELINE_FILE, reader: gitlabIncludeReader(gitlab, { project, sha: at }) });
      return c.ok ? c.file : null;
    };
    const reuse = await reusableImageFor(ctx, run, compiled.file, lists.changedFiles, base, PIPELINE_FILE, compileAt).catch(async (err: unknown) => {
      await store.appendLog(runId, 'plan', 'system', `could not look for an image to reuse (${messageOf(err)}): building`);
      return undefined;
    });
    if (reuse) await store.setImage(runId, reuse.image);
    plan = planPipeline(compiled.file, run.request, { pipelineId: runId, ...lists, variables, ...(reuse ? { reusedImage: { reason: reuse.reason } } : {}) });
  }
  const now = new Date().toISOString();
  const jobs: JobRecord[] = plan.jobs.map((j) => ({
    name: j.name,
    kind: j.kind,
    stage: j.stage,
    status: { phase: 'pending', reason: j.when === 'manual' ? 'waiting for someone to start it' : 'waiting for earlier jobs', at: now },
    startedAt: undefined,
    finishedAt: undefined,
    exitCode: undefined,
  }));
  for (const s of plan.skipped) await store.appendLog(runId, 'plan', 'system', `skipped ${s.name}: ${s.reason}`);
  await store.setPlan(runId, plan, jobs);
  if (jobs.length === 0) {
    await store.setStatus(runId, 'skipped', plan.skipped[0]?.reason ?? 'no jobs to run for this event');
    await reporter.runChanged(runId);
    return;
  }
  await store.setStatus(runId, 'running', `${jobs.length} jobs planned`);
  log.info({ jobs: jobs.map((j) => j.name) }, 'run planned');
  // Manual jobs get no pending status: it would hold the commit "running" until someone approves.
  for (const j of plan.jobs) if (j.when !== 'manual') await reporter.jobChanged(runId, j.name);
  await reporter.runChanged(runId);
  await advanceRun(ctx, ctx.redis, runId);
  // Pushes and merge-request updates supersede the older pipeline of the same ref (GitLab's auto-cancel).
  if (run.request.event === 'push' || run.request.event === 'mr') {
    const canceled = await cancelSuperseded(ctx, { ...run, plan });
    if (canceled) log.info({ canceled }, 'older pipeline for the same ref canceled');
  }
}

/**
 * The files a push changed (before..after), a merge brought in (first parent..merge commit) or a
 * merge request changes (merge base with its target branch..source commit), as `jobs/diff-base.ts`
 * chooses; and every file at the SHA, for exists:. Without a base, changes: holds (GitLab's rule)
 * and the run's log says why.
 */
async function fileListsFor(ctx: JobContext, run: RunRecord): Promise<{ changedFiles?: string[]; repoFiles: string[]; base?: string }> {
  const mirrorDir = await mirrorFor(ctx, run);
  const base = await diffBaseFor(ctx, run, mirrorDir);
  let changedFiles: string[] | undefined;
  if ('base' in base) {
    changedFiles = await changedFilesFromMirror(mirrorDir, base.base, run.request.sha);
    await ctx.store.appendLog(run.id, 'plan', 'system', `changed files: ${changedFiles?.length ?? 'unknown'} against ${base.what}`);
  } else {
    ctx.logger.info({ run: run.id, reason: base.unknown }, 'changed files unknown: rules with changes: hold');
    await ctx.store.appendLog(run.id, 'plan', 'system', `changed files unknown (${base.unknown}): rules with changes: count as true`);
  }
  const repoFiles = await repoFilesFromMirror(mirrorDir, run.request.sha);
  return { ...(changedFiles ? { changedFiles } : {}), repoFiles, ...('base' in base ? { base: base.base } : {}) };
}

async function fail(ctx: JobContext, runId: string, reason: string): Promise<void> {
  await ctx.store.setStatus(runId, 'failed', reason);
  await ctx.store.appendLog(runId, 'plan', 'system', reason);
  await ctx.reporter.runChanged(runId);
}
