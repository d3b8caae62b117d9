import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { JobContext } from '../jobs/context.js';
import { predefinedVariables } from '../jobs/step-env.js';
import type { PlannedScriptJob, RetryReason } from '../planning/plan.js';
import type { RunRecord } from '../runs/types.js';
import { messageOf } from '../errors/errors.js';
import type { JobOutcome } from '../scheduler/finish-job.js';
import type { StepResult } from '../executors/types.js';
import { createHash } from 'node:crypto';
import { ArtifactsFetchError, matchFiles, restoreArtifacts, saveArtifacts } from '../caches/artifacts.js';
import { resolveCaches, restoreCaches, saveCaches, type SharedCaches } from '../caches/job-cache.js';
import type { ArtifactsRecord } from '../runs/types.js';
import { openStores, type Stores } from './stores.js';
import { coverageOf } from '../reports/job-coverage.js';
import { readJunitReports } from '../reports/junit.js';
import { prepareWorkTree } from '../jobs/work-tree.js';
import { variablesFor } from '../jobs/job-variables.js';
import { createMasker } from '../logging/mask.js';

/**
 * One script job: a fresh work tree at the SHA, earlier jobs' artifacts and the dependency caches
 * restored, the script run in its image (retried as `retry:` says), caches saved, artifacts and
 * JUnit reports collected. Returns the outcome; the caller records it.
 */
export async function runScriptJob(ctx: JobContext, run: RunRecord, job: PlannedScriptJob, signal?: AbortSignal): Promise<JobOutcome> {
  const { store, config } = ctx;
  const secrets = await variablesFor(ctx.variables, run);
  // Masked project variables are hidden in this job's log lines (the global masker knows Slipway's own secrets).
  const mask = createMasker(secrets.masked);
  const log = (line: string) => store.appendLog(run.id, job.name, 'system', mask(line));
  // SLIPWAY_IMAGE is set for jobs that run after the image job (e.g. a smoke test of the image).
  const env = { ...predefinedVariables(run.id, run.request, {}, run.image ? { image: run.image.ref } : undefined), ...job.variables, ...secrets.values };
  const workdir = path.join(config.workspaceDir, 'runs', run.id, artifactKey(job.name));
  try {
    await prepareWorkTree(ctx, run, workdir);
    const stores = openStores(config, ctx.redis);
    // Artifacts come from the registry, so the job may run on any node; one that cannot be
    // fetched fails the job, naming it, rather than letting the script run without it.
    try {
      for (const line of await restoreArtifacts(stores.store, run.id, artifactSources(run, job.artifactsFrom), workdir)) await log(line);
    } catch (err) {
      if (err instanceof ArtifactsFetchError) return { phase: 'failed', reason: mask(err.message) };
      throw err;
    }
    const sharedCaches: SharedCaches = { ...stores, projectId: run.request.project.id, maxBytes: config.cache.projectMaxBytes };
    const caches = await resolveCaches(job.cache, workdir);
    const cacheLines = await restoreCaches(sharedCaches, caches, workdir);
    for (const line of cacheLines) await log(line);

    let attempt = 0;
    let result: StepResult | undefined;
    let failure: RetryReason | undefined;
    for (;;) {
      attempt += 1;
      const started = await store.updateJob(run.id, job.name, 'running', `running in ${job.image}${attempt > 1 ? ` (attempt ${attempt})` : ''}`, {
        attempt,
        cache: cacheLines,
      });
      // Only this worker writes a running job: its status is the one just written.
      await ctx.reporter.jobChanged(run.id, job.name, started && { run, job: started });
      for (const line of job.script) await log(`$ ${line}`);
      result = await runOnce(ctx, run, job, { workdir, env, mask }, attempt, signal);
      failure = result.canceled ? undefined : result.timedOut ? 'job_execution_timeout' : result.exitCode !== 0 ? 'script_failure' : undefined;
      if (!failure || !shouldRetry(job, failure, result.exitCode, attempt)) break;
      await log(`retrying: attempt ${attempt} ended with ${failure} (retry max ${job.retry.max})`);
    }

    const succeeded = !failure && !result.canceled;
    for (const line of await saveCaches(sharedCaches, caches, workdir, succeeded).catch((err: unknown) => [`cache not saved: ${messageOf(err)}`]))
      await log(line);
    const extra = { ...(await collectReports(ctx, run, job, workdir, mask)), ...(await coverageOf(store, run.id, job)) };

    if (result.canceled) return { phase: 'canceled', reason: 'canceled' };
    const kept = await keepArtifacts(ctx, stores, run, job, workdir, succeeded);
    if ('error' in kept) {
      // Later jobs would run without them: the job fails, as GitLab's does when its upload fails.
      await log(mask(kept.error));
      return { phase: 'failed', reason: mask(kept.error), extra: { ...extra, attempt } };
    }
    if (kept.artifacts) Object.assign(extra, { artifacts: kept.artifacts });
    if (succeeded) return { phase: 'success', reason: `passed in ${(result.durationMs / 1000).toFixed(1)}s`, extra: { ...extra, exitCode: 0, attempt } };
    const why = result.timedOut ? `timed out after ${job.timeoutMs / 1000}s` : `failed with exit code ${result.exitCode}`;
    return { phase: 'failed', reason: `job '${job.name}' ${why}`, exitCode: result.exitCode, extra: { ...extra, attempt } };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

function runOnce(
  ctx: JobContext,
  run: RunRecord,
  job: PlannedScriptJob,
  step: { workdir: string; env: Record<string, string>; mask: (s: string) => string },
  attempt: number,
  signal?: AbortSignal,
): Promise<StepResult> {
  const { workdir, env, mask } = step;
  return ctx.executor.runStep(
    {
      id: `${run.id}-${artifactKey(job.name)}-${attempt}`,
      image: job.image,
      // The script is repository content and runs in the image's shell, as in GitLab CI; `set -e`
      // stops at the first failing line, as GitLab's runner does.
      argv: ['/bin/sh', '-c', ['set -e', ...job.script].join('\n')],
      // Project variables override the file's, as in GitLab.
      env,
      workdir: '/workspace',
      mounts: [{ source: workdir, target: '/workspace' }],
      timeoutMs: job.timeoutMs,
      // No network: a test step must not reach Slipway's own Redis or other loopback services.
      network: 'none',
      labels: { 'io.slipway.run': run.id, 'io.slipway.job': job.name },
      ...(job.resources ? { resources: job.resources } : {}),
    },
    (line, stream) => void ctx.store.appendLog(run.id, job.name, stream, mask(line)),
    signal,
  );
}

function shouldRetry(job: PlannedScriptJob, reason: RetryReason, exitCode: number, attempt: number): boolean {
  if (attempt > job.retry.max) return false;
  const when = job.retry.when;
  const reasonMatches = when.includes('always') || when.includes(reason) || (reason === 'job_execution_timeout' && when.includes('stuck_or_timeout_failure'));
  if (!reasonMatches) return false;
  return reason !== 'script_failure' || !job.retry.exitCodes || job.retry.exitCodes.includes(exitCode);
}

/** The needed jobs whose artifacts this job gets, with where the run record says they are. */
function artifactSources(run: RunRecord, names: readonly string[]): Array<{ job: string; artifacts: ArtifactsRecord | undefined }> {
  return names.map((name) => ({ job: name, artifacts: run.jobs.find((j) => j.name === name)?.artifacts }));
}

/** Pushes the job's artifacts to the registry when its `when` matches the outcome. */
async function keepArtifacts(
  ctx: JobContext,
  stores: Stores,
  run: RunRecord,
  job: PlannedScriptJob,
  workdir: string,
  succeeded: boolean,
): Promise<{ artifacts?: ArtifactsRecord } | { error: string }> {
  const a = job.artifacts;
  if (!a || a.paths.length === 0) return {};
  if (!(a.when === 'always' || (a.when === 'on_success') === succeeded)) return {};
  const log = (line: string) => ctx.store.appendLog(run.id, job.name, 'system', line);
  const expireInMs = a.neverExpire ? null : (a.expireInMs ?? ctx.config.store.artifactsExpireMs);
  try {
    const saved = await saveArtifacts(stores, {
      projectId: run.request.project.id,
      runId: run.id,
      jobName: job.name,
      workdir,
      paths: a.paths,
      exclude: a.exclude,
      expireInMs,
      nowMs: Date.now(),
    });
    if (!saved) {
      await log(`artifacts: no file matched ${a.paths.join(', ')}; nothing stored`);
      return {};
    }
    await log(`artifacts: ${saved.files} files, ${saved.bytes} bytes stored as ${saved.reference}${saved.expiresAt ? ` (expires ${saved.expiresAt})` : ''}`);
    return { artifacts: saved };
  } catch (err) {
    return { error: `artifacts of job '${job.name}' could not be stored: ${messageOf(err)}` };
  }
}

async function collectReports(ctx: JobContext, run: RunRecord, job: PlannedScriptJob, workdir: string, mask: (s: string) => string) {
  const a = job.artifacts;
  if (!a) return {};
  const log = (line: string) => ctx.store.appendLog(run.id, job.name, 'system', line);
  const extra: { tests?: NonNullable<RunRecord['jobs'][number]['tests']> } = {};
  if (a.junit.length > 0) {
    const files = await matchFiles(workdir, a.junit);
    if (files.length === 0) await log(`no JUnit report matched ${a.junit.join(', ')}`);
    else {
      const { summary, problems } = await readJunitReports(files.map((f) => path.join(workdir, f)));
      for (const p of problems) await log(`JUnit report problem: ${mask(p)}`);
      extra.tests = {
        passed: summary.passed,
        failed: summary.failed,
        skipped: summary.skipped,
        errors: summary.errors,
        // Test output may print a masked variable: it goes into the run record and the MR note.
        failures: summary.failures.slice(0, 50).map((f) => ({ suite: mask(f.suite), name: mask(f.name), message: mask(f.message).slice(0, 500) })),
      };
      await log(`tests: ${summary.passed} passed, ${summary.failed} failed, ${summary.errors} errors, ${summary.skipped} skipped`);
    }
  }
  return extra;
}

/** A file-name-safe key for a job name (job names are free text). */
function artifactKey(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 16);
}
