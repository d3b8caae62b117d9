import { UnrecoverableError } from 'bullmq';
import type { PlannedJob } from '../planning/plan.js';
import { acquireSlots, releaseSlots, type SlotRequest } from '../runs/semaphore.js';
import { FINISHED_JOB_PHASES, type RunRecord } from '../runs/types.js';
import { advanceRun } from '../scheduler/advance-run.js';
import { watchCancel } from '../scheduler/cancel.js';
import { finishJob, type JobOutcome } from '../scheduler/finish-job.js';
import { ImageNotFoundError } from '../executors/docker-errors.js';
import { messageOf, PermanentError } from '../errors/errors.js';
import { imageFingerprint } from './image-reuse.js';
import type { BuildContext } from './build-context.js';
import { runImageJob } from './run-image-job.js';
import { runScriptJob } from './run-script-job.js';
import { runSonarJob } from './run-sonar-job.js';

export type PipelineJobResult = { done: true } | { done: false; reason: string; retryInMs: number };

const SLOT_RETRY_MS = 2_000;
const AFFINITY_RETRY_MS = 300;

/**
 * A build-queue job: one script, image or sonar job of a run. Idempotent: a job already finished
 * (a redelivered queue job) only nudges the scheduler; a job of a finished run does nothing.
 * When a concurrency limit is full it returns why, and the caller puts it back to wait.
 */
export async function runPipelineJob(ctx: BuildContext, runId: string, jobName: string, queuedAt: number, signal?: AbortSignal): Promise<PipelineJobResult> {
  const run = await ctx.store.get(runId);
  if (!run?.plan) throw new UnrecoverableError(`run ${runId} has no plan`);
  const job = run.plan.jobs.find((j) => j.name === jobName);
  if (!job || job.kind === 'deploy') throw new UnrecoverableError(`run ${runId} plans no build job '${jobName}'`);
  const record = run.jobs.find((j) => j.name === jobName);
  if (run.status.phase !== 'running' || !record || FINISHED_JOB_PHASES.has(record.status.phase)) {
    await advanceRun(ctx, ctx.redis, runId);
    return { done: true };
  }

  const preferred = await ctx.affinity?.preferredElsewhere(run.request.project.id, Date.now() - queuedAt);
  if (preferred) {
    const reason = `waiting: preferring worker ${preferred}, which holds the mirror`;
    if (record.status.reason !== reason) await ctx.store.updateJob(runId, jobName, 'queued', reason);
    return { done: false, reason, retryInMs: AFFINITY_RETRY_MS };
  }
  const holder = `${runId}:${jobName}`;
  const fingerprint = job.kind === 'image' ? await imageFingerprint(ctx, run, job) : undefined;
  const slots = slotsFor(ctx, run, job, fingerprint);
  const got = await acquireSlots(ctx.redis, holder, slots, job.timeoutMs + 10 * 60_000);
  if (!got.ok) {
    if (record.status.reason !== got.reason) await ctx.store.updateJob(runId, jobName, 'queued', got.reason);
    return { done: false, reason: got.reason, retryInMs: SLOT_RETRY_MS };
  }
  const cancel = watchCancel(ctx.redis, ctx.store.keys.cancel(runId), signal);
  let outcome: JobOutcome;
  try {
    outcome =
      job.kind === 'script'
        ? await runScriptJob(ctx, run, job, cancel.signal)
        : job.kind === 'image'
          ? await runImageJob(ctx, run, job, fingerprint)
          : await runSonarJob(ctx, run, job, cancel.signal);
  } catch (err) {
    // Retrying cannot bring a missing image or a bad setting into being: fail the job now.
    // Anything else (engine or git unreachable) is thrown to BullMQ, which retries with backoff.
    if (!(err instanceof ImageNotFoundError || err instanceof PermanentError)) throw err;
    outcome = { phase: 'failed', reason: messageOf(err) };
  } finally {
    cancel.stop();
    await releaseSlots(
      ctx.redis,
      holder,
      slots.map((s) => s.key),
    );
  }
  if (outcome.phase === 'canceled' && cancel.reason()) outcome = { phase: 'canceled', reason: cancel.reason() ?? 'canceled' };
  await finishJob(ctx, runId, job, outcome, run.request);
  return { done: true };
}

function slotsFor(ctx: BuildContext, run: RunRecord, job: PlannedJob, imageFingerprint: string | undefined): SlotRequest[] {
  const { limits } = ctx.config;
  const { keys } = ctx.store;
  const project = run.request.project;
  const slots: SlotRequest[] = [];
  if (imageFingerprint) {
    // Taken first: a run waiting for the same image holds no build slot meanwhile.
    slots.push({
      key: keys.imageSlots(project.id, imageFingerprint),
      limit: 1,
      describe: () => `another run is building this image (same commit and build settings); it will be reused`,
    });
  }
  if (job.resourceGroup) {
    slots.push({ key: keys.groupSlots(project.id, job.resourceGroup), limit: 1, describe: () => `resource group ${job.resourceGroup} is busy` });
  }
  if (limits.buildsPerProject > 0) {
    slots.push({
      key: keys.projectSlots(project.id),
      limit: limits.buildsPerProject,
      describe: (n) => `project ${project.path} has ${n} build jobs running (limit ${limits.buildsPerProject})`,
    });
  }
  if (limits.buildsGlobal > 0) {
    slots.push({ key: keys.globalSlots, limit: limits.buildsGlobal, describe: (n) => `${n} build jobs running in all (limit ${limits.buildsGlobal})` });
  }
  return slots;
}
