import { readFile } from 'node:fs/promises';
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { builtinDeployTemplate } from '../config/paths.js';
import { messageOf } from '../errors/errors.js';
import type { JobContext } from '../jobs/context.js';
import { formatProblem } from '../pipeline/errors.js';
import type { Plan, PlannedDeployJob } from '../pipeline/plan.js';
import { failJob } from '../build/run-build-job.js';
import { deployRelease } from './docker-target.js';
import { EnvironmentLock } from './environment-lock.js';
import { renderTemplate } from './template.js';

export type DeployOutcome = { done: true } | { done: false; lockedBy: string };

/** Built-in templates are named (docker-service); anything with a slash or .yml is a file in the repo. */
function isRepoPath(template: string): boolean {
  return template.includes('/') || /\.ya?ml$/.test(template);
}

/**
 * The deploy job of a run for one environment: lock the environment, render the template with the
 * image digest, roll out, health-check, switch. A failed health check keeps the old release serving.
 */
export async function runDeployJob(ctx: JobContext, redis: Redis, runId: string, environment: string): Promise<DeployOutcome> {
  const { store, reporter } = ctx;
  const run = await store.get(runId);
  if (!run?.planJson) throw new UnrecoverableError(`run ${runId} has no plan`);
  if (run.status.phase !== 'running') return { done: true };
  const plan = JSON.parse(run.planJson) as Plan;
  const job = plan.jobs.find((j): j is PlannedDeployJob => j.kind === 'deploy' && j.environment === environment);
  if (!job) throw new UnrecoverableError(`run ${runId} plans no deploy to ${environment}`);
  if (run.jobs.find((j) => j.name === job.name)?.status.phase === 'success') return { done: true };
  if (!run.image) {
    await failJob(ctx, runId, job.name, 'no image was built for this run');
    return { done: true };
  }

  const lock = new EnvironmentLock(redis, store.keys.envLock(job.service, environment), job.timeoutMs + 60_000);
  const holder = await lock.acquire(runId);
  if (holder) {
    await store.updateJob(runId, job.name, 'pending', `waiting: ${environment} is being deployed by run ${holder}`);
    return { done: false, lockedBy: holder };
  }
  try {
    await store.updateJob(runId, job.name, 'running', `deploying ${run.image.ref} to ${environment}`);
    await reporter.jobChanged(runId, job.name);
    const onLog = (line: string) => void store.appendLog(runId, job.name, 'system', line);

    const text = isRepoPath(job.template)
      ? await ctx.gitlab.readFile(run.request.project.id, job.template, run.request.sha)
      : await readFile(builtinDeployTemplate(job.template), 'utf8').catch(() => null);
    if (text === null) {
      await failJob(ctx, runId, job.name, `deploy template '${job.template}' not found${isRepoPath(job.template) ? ` at ${run.request.sha.slice(0, 8)}` : ' among the built-in templates'}`);
      return { done: true };
    }
    const values = {
      SLIPWAY_IMAGE: run.image.ref,
      SLIPWAY_ENVIRONMENT: environment,
      SLIPWAY_SERVICE: job.service,
      SLIPWAY_COMMIT_SHA: run.request.sha,
      SLIPWAY_PIPELINE_ID: runId,
      ...Object.fromEntries(Object.entries(job.spec.variables ?? {}).map(([k, v]) => [k, String(v)])),
    };
    const rendered = renderTemplate(text, values, job.template);
    if (!rendered.ok) {
      await failJob(ctx, runId, job.name, rendered.problems.map(formatProblem).join('\n'));
      return { done: true };
    }
    try {
      const release = await deployRelease(ctx.docker, {
        service: job.service,
        environment,
        image: run.image.ref,
        ...(rendered.spec.command ? { command: rendered.spec.command } : {}),
        env: rendered.spec.env ?? {},
        basePort: job.spec.port,
        healthPath: job.spec.health,
        healthTimeoutMs: job.timeoutMs,
        runId,
        onLog,
      });
      await store.addDeployment(runId, { environment, target: 'docker', url: release.url, image: run.image.ref, at: new Date().toISOString() });
      await store.updateJob(runId, job.name, 'success', `${job.service} answers at ${release.url}`);
      await reporter.jobChanged(runId, job.name);
    } catch (err) {
      await failJob(ctx, runId, job.name, `deploy to ${environment} failed: ${messageOf(err)}`);
      return { done: true };
    }
  } finally {
    await lock.release(runId);
  }

  const next = plan.jobs.slice(plan.jobs.indexOf(job) + 1).find((j): j is PlannedDeployJob => j.kind === 'deploy');
  if (next) {
    await ctx.queues.enqueueDeploy({ runId, environment: next.environment });
  } else {
    await store.setStatus(runId, 'succeeded', `deployed to ${environment}`);
    await reporter.runChanged(runId);
  }
  return { done: true };
}
