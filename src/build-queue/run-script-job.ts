import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { JobContext } from '../jobs/context.js';
import { predefinedVariables } from '../jobs/step-env.js';
import type { PlannedScriptJob, RetryReason } from '../pipeline/plan.js';
import type { RunRecord } from '../runs/types.js';
import { messageOf } from '../errors/errors.js';
import type { JobOutcome } from '../scheduler/finish-job.js';
import type { StepResult } from '../executors/types.js';
import { artifactDir, collectArtifacts, matchFiles, restoreArtifacts } from '../caches/artifacts.js';
import { CacheStore } from '../caches/cache-store.js';
import { resolveCaches, restoreCaches, saveCaches } from '../caches/job-cache.js';
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
    await restoreArtifacts(job.artifactsFrom.map((n) => artifactDir(config.workspaceDir, run.id, n)), workdir);
    const cacheStore = new CacheStore(config.cache.dir, config.cache.maxBytes);
    const caches = await resolveCaches(job.cache, workdir);
    const cacheLines = await restoreCaches(cacheStore, caches, workdir);
    for (const line of cacheLines) await log(line);

    let attempt = 0;
    let result: StepResult | undefined;
    let failure: RetryReason | undefined;
    for (;;) {
      attempt += 1;
      await store.updateJob(run.id, job.name, 'running', `running in ${job.image}${attempt > 1 ? ` (attempt ${attempt})` : ''}`, { attempt, cache: cacheLines });
      await ctx.reporter.jobChanged(run.id, job.name);
      for (const line of job.script) await log(`$ ${line}`);
      result = await runOnce(ctx, run, job, { workdir, env, mask }, attempt, signal);
      failure = result.canceled ? undefined : result.timedOut ? 'job_execution_timeout' : result.exitCode !== 0 ? 'script_failure' : undefined;
      if (!failure || !shouldRetry(job, failure, result.exitCode, attempt)) break;
      await log(`retrying: attempt ${attempt} ended with ${failure} (retry max ${job.retry.max})`);
    }

    const succeeded = !failure && !result.canceled;
    for (const line of await saveCaches(cacheStore, caches, workdir, succeeded).catch((err: unknown) => [`cache not saved: ${messageOf(err)}`])) await log(line);
    const extra = { ...await collectReports(ctx, run, job, workdir, succeeded, mask), ...await coverageOf(store, run.id, job) };

    if (result.canceled) return { phase: 'canceled', reason: 'canceled' };
    if (succeeded) return { phase: 'success', reason: `passed in ${(result.durationMs / 1000).toFixed(1)}s`, extra: { ...extra, exitCode: 0, attempt } };
    const why = result.timedOut ? `timed out after ${job.timeoutMs / 1000}s` : `failed with exit code ${result.exitCode}`;
    return { phase: 'failed', reason: `job '${job.name}' ${why}`, exitCode: result.exitCode, extra: { ...extra, attempt } };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

function runOnce(ctx: JobContext, run: RunRecord, job: PlannedScriptJob, step: { workdir: string; env: Record<string, string>; mask: (s: string) => string }, attempt: number, signal?: AbortSignal): Promise<StepResult> {
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

async function collectReports(ctx: JobContext, run: RunRecord, job: PlannedScriptJob, workdir: string, succeeded: boolean, mask: (s: string) => string) {
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
        passed: summary.passed, failed: summary.failed, skipped: summary.skipped, errors: summary.errors,
        // Test output may print a masked variable: it goes into the run record and the MR note.
        failures: summary.failures.slice(0, 50).map((f) => ({ suite: mask(f.suite), name: mask(f.name), message: mask(f.message).slice(0, 500) })),
      };
      await log(`tests: ${summary.passed} passed, ${summary.failed} failed, ${summary.errors} errors, ${summary.skipped} skipped`);
    }
  }
  const keep = a.when === 'always' || (a.when === 'on_success') === succeeded;
  if (keep && a.paths.length > 0) {
    const kept = await collectArtifacts(workdir, artifactDir(ctx.config.workspaceDir, run.id, job.name), a.paths, a.exclude);
    await log(`artifacts: ${kept.files} files, ${kept.bytes} bytes kept for later jobs`);
  }
  return extra;
}

/** A file-name-safe key for a job name (job names are free text). */
function artifactKey(name: string): string {
  return path.basename(artifactDir('', '', name));
}
