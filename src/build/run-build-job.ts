import { rm } from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import type { JobContext } from '../jobs/context.js';
import { predefinedVariables } from '../jobs/step-env.js';
import type { Plan, PlannedImageJob, PlannedScriptJob } from '../pipeline/plan.js';
import type { RunRecord } from '../runs/types.js';
import { messageOf } from '../errors/errors.js';
import { archiveStream, exportTree, syncMirror } from './git-mirror.js';
import { buildImage, pushImage } from './image-builder.js';

/**
 * The build job of a run: sync the project's mirror (fetch, never a fresh clone), run the script
 * jobs in containers, build and push the image, then hand over to deploy. Jobs already finished
 * by an earlier attempt are not run again.
 */
export async function runBuildJob(ctx: JobContext, runId: string, attempt: number, signal?: AbortSignal): Promise<void> {
  const { store, reporter, config } = ctx;
  const log = ctx.logger.child({ run: runId, job: 'build' });
  const run = await store.get(runId);
  if (!run?.planJson) throw new UnrecoverableError(`run ${runId} has no plan`);
  if (run.status.phase !== 'running') return; // finished or canceled meanwhile
  const plan = JSON.parse(run.planJson) as Plan;
  const { project, sha } = run.request;

  const system = (job: string, line: string) => store.appendLog(runId, job, 'system', line);
  const mirror = await syncMirror({
    root: path.join(config.workspaceDir, 'mirrors'),
    project: project.path,
    cloneUrl: `${config.gitBaseUrl}/${project.path}.git`,
    sha,
    ref: refOf(run.request),
    timeoutMs: 10 * 60_000,
  });
  log.info({ cloned: mirror.cloned }, 'mirror synced');

  const workdir = path.join(config.workspaceDir, 'runs', runId);
  try {
    const done = new Set(run.jobs.filter((j) => j.status.phase === 'success').map((j) => j.name));
    const scripts = plan.jobs.filter((j): j is PlannedScriptJob => j.kind === 'script');
    if (scripts.some((j) => !done.has(j.name))) {
      await rm(workdir, { recursive: true, force: true });
      await exportTree({ mirrorDir: mirror.dir, sha, dest: workdir });
      await system(scripts[0]?.name ?? 'build', `${mirror.cloned ? 'cloned' : 'fetched'} ${project.path} at ${sha.slice(0, 8)}`);
    }
    for (const job of scripts) {
      if (done.has(job.name)) continue;
      const ok = await runScriptJob(ctx, run, job, workdir, attempt, signal);
      if (!ok) return;
    }
    const image = plan.jobs.find((j): j is PlannedImageJob => j.kind === 'image');
    if (image && !done.has('image')) {
      const ok = await runImageJob(ctx, run, image, mirror.dir);
      if (!ok) return;
    }
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }

  const next = plan.jobs.find((j) => j.kind === 'deploy');
  if (next?.kind === 'deploy') {
    await ctx.queues.enqueueDeploy({ runId, environment: next.environment });
  } else {
    await store.setStatus(runId, 'succeeded', 'all jobs passed');
    await reporter.runChanged(runId);
  }
}

async function runScriptJob(ctx: JobContext, run: RunRecord, job: PlannedScriptJob, workdir: string, attempt: number, signal?: AbortSignal): Promise<boolean> {
  const { store, reporter } = ctx;
  await store.updateJob(run.id, job.name, 'running', `running in ${job.image}`);
  await reporter.jobChanged(run.id, job.name);
  for (const line of job.script) await store.appendLog(run.id, job.name, 'system', `$ ${line}`);
  let result;
  try {
    result = await ctx.executor.runStep(
      {
        id: `${run.id}-${job.name}-${attempt}`,
        image: job.image,
        // The script is repository content and runs in the image's shell, as in GitLab CI; `set -e`
        // stops at the first failing line, as GitLab's runner does.
        argv: ['/bin/sh', '-c', ['set -e', ...job.script].join('\n')],
        env: predefinedVariables(run.id, run.request, job.variables),
        workdir: '/workspace',
        mounts: [{ source: workdir, target: '/workspace' }],
        timeoutMs: job.timeoutMs,
        // No network: a test step must not reach Slipway's own Redis or other loopback services.
        network: 'none',
        labels: { 'io.slipway.run': run.id, 'io.slipway.job': job.name },
      },
      (line, stream) => void store.appendLog(run.id, job.name, stream, line),
      signal,
    );
  } catch (err) {
    return failJob(ctx, run.id, job.name, `could not run: ${messageOf(err)}`);
  }
  if (result.exitCode === 0 && !result.timedOut && !result.canceled) {
    await store.updateJob(run.id, job.name, 'success', `passed in ${(result.durationMs / 1000).toFixed(1)}s`, { exitCode: 0 });
    await reporter.jobChanged(run.id, job.name);
    return true;
  }
  const why = result.timedOut ? `timed out after ${job.timeoutMs / 1000}s` : result.canceled ? 'canceled' : `failed with exit code ${result.exitCode}`;
  return failJob(ctx, run.id, job.name, `job '${job.name}' ${why}`, result.exitCode);
}

async function runImageJob(ctx: JobContext, run: RunRecord, job: PlannedImageJob, mirrorDir: string): Promise<boolean> {
  const { store, reporter, config } = ctx;
  const repository = `${config.registry.host}/${job.build.image}`;
  const tag = run.request.sha.slice(0, 8);
  await store.updateJob(run.id, 'image', 'running', `building ${repository}:${tag}`);
  await reporter.jobChanged(run.id, 'image');
  const onLog = (line: string) => void store.appendLog(run.id, 'image', 'stdout', line);
  try {
    await buildImage(ctx.docker, {
      context: archiveStream({ mirrorDir, sha: run.request.sha }),
      dockerfile: job.build.dockerfile,
      tags: [`${repository}:${tag}`],
      labels: {
        'org.opencontainers.image.revision': run.request.sha,
        'io.slipway.project': run.request.project.path,
        'io.slipway.run': run.id,
      },
      buildArgs: job.build.args ?? {},
      onLog,
      timeoutMs: 30 * 60_000,
    });
    const auth = config.registry.username && config.registry.password
      ? { username: config.registry.username, password: config.registry.password, serveraddress: config.registry.host }
      : undefined;
    const { digest } = await pushImage(ctx.docker, { image: repository, tag, ...(auth ? { auth } : {}), onLog, timeoutMs: 30 * 60_000 });
    await store.setImage(run.id, { repository, tags: [tag], digest, ref: `${repository}@${digest}` });
    await store.updateJob(run.id, 'image', 'success', `pushed ${repository}@${digest}`);
    await reporter.jobChanged(run.id, 'image');
    return true;
  } catch (err) {
    return failJob(ctx, run.id, 'image', `image build or push failed: ${messageOf(err)}`);
  }
}

/** A failed job fails the run; later jobs are skipped, as in GitLab. */
export async function failJob(ctx: JobContext, runId: string, jobName: string, reason: string, exitCode?: number): Promise<false> {
  const { store, reporter } = ctx;
  await store.updateJob(runId, jobName, 'failed', reason, exitCode === undefined ? {} : { exitCode });
  await store.appendLog(runId, jobName, 'system', reason);
  await reporter.jobChanged(runId, jobName);
  const run = await store.get(runId);
  for (const j of run?.jobs ?? []) {
    if (j.status.phase === 'pending') {
      await store.updateJob(runId, j.name, 'skipped', `skipped: ${jobName} failed`);
      await reporter.jobChanged(runId, j.name);
    }
  }
  await store.setStatus(runId, 'failed', reason);
  await reporter.runChanged(runId);
  return false;
}

/** The ref the commit arrived on: only that ref is fetched into the mirror. */
function refOf(req: RunRecord['request']): string {
  if (req.event === 'tag') return `refs/tags/${req.ref}`;
  if (req.mergeRequest?.fork) return `refs/merge-requests/${req.mergeRequest.iid}/head`;
  return `refs/heads/${req.ref}`;
}
