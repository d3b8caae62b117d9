import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { JobContext } from '../jobs/context.js';
import { predefinedVariables } from '../jobs/step-env.js';
import { FORK_REASONS, type PlannedSonarJob } from '../planning/plan.js';
import type { RunRecord } from '../runs/types.js';
import { messageOf } from '../errors/errors.js';
import type { JobOutcome } from '../scheduler/finish-job.js';
import { ArtifactsFetchError, restoreArtifacts } from '../caches/artifacts.js';
import { openStores } from './stores.js';
import { gateVerdict, waitForQualityGate } from '../sonar/quality-gate.js';
import { readReportTask } from '../sonar/report-task.js';
import { prepareWorkTree } from '../jobs/work-tree.js';
import { runsForkCode } from '../jobs/job-variables.js';

const GATE_DEADLINE_MS = 10 * 60_000;

/**
 * SonarQube: the scanner runs as a step in the work tree, then the quality gate of exactly that
 * analysis is read through the Web API. A failed gate fails the job unless the gate is advisory.
 */
export async function runSonarJob(ctx: JobContext, run: RunRecord, job: PlannedSonarJob, signal?: AbortSignal): Promise<JobOutcome> {
  const { store, config } = ctx;
  // The planner leaves this job out for forks; this keeps the token and the host network from a
  // fork's code even when a recorded plan says otherwise.
  if (runsForkCode(run.request)) return { phase: 'failed', reason: FORK_REASONS.sonar };
  const { url, token } = config.sonar;
  if (!url || !token) return { phase: 'failed', reason: 'sonar job planned but SONAR_HOST_URL and SONAR_TOKEN are not configured' };
  const log = (line: string) => void store.appendLog(run.id, job.name, 'system', line);
  const workdir = path.join(config.workspaceDir, 'runs', run.id, 'sonar');
  try {
    await prepareWorkTree(ctx, run, workdir);
    try {
      const sources = job.artifactsFrom.map((name) => ({ job: name, artifacts: run.jobs.find((j) => j.name === name)?.artifacts }));
      for (const line of await restoreArtifacts(openStores(config, ctx.redis).store, run.id, sources, workdir)) log(line);
    } catch (err) {
      if (err instanceof ArtifactsFetchError) return { phase: 'failed', reason: err.message };
      throw err;
    }
    const image = job.image ?? config.sonar.scannerImage;
    const started = await store.updateJob(run.id, job.name, 'running', `scanning with ${image}`);
    // Only this worker writes a running job: its status is the one just written.
    await ctx.reporter.jobChanged(run.id, job.name, started && { run, job: started });
    const result = await ctx.executor.runStep(
      {
        id: `${run.id}-sonar`,
        image,
        argv: ['sonar-scanner', `-Dsonar.projectKey=${job.projectKey}`, `-Dsonar.scm.revision=${run.request.sha}`],
        // The token reaches the scanner as an environment value (masked in every log line).
        env: { ...predefinedVariables(run.id, run.request), SONAR_HOST_URL: url, SONAR_TOKEN: token },
        workdir: '/workspace',
        mounts: [{ source: workdir, target: '/workspace' }],
        timeoutMs: job.timeoutMs,
        // The scanner must reach the SonarQube server.
        network: 'host',
        labels: { 'io.slipway.run': run.id, 'io.slipway.job': job.name },
      },
      (line, stream) => void store.appendLog(run.id, job.name, stream, line),
      signal,
    );
    if (result.canceled) return { phase: 'canceled', reason: 'canceled' };
    if (result.exitCode !== 0 || result.timedOut) {
      return {
        phase: 'failed',
        reason: `sonar scanner ${result.timedOut ? 'timed out' : `failed with exit code ${result.exitCode}`}`,
        exitCode: result.exitCode,
      };
    }
    const report = await readReportTask(path.join(workdir, '.scannerwork', 'report-task.txt'));
    const gate = await waitForQualityGate(report, { client: { url, token }, deadlineMs: GATE_DEADLINE_MS, onLog: log });
    const verdict = gateVerdict(gate, { advisory: job.gate === 'advisory' });
    log(verdict.reason);
    await store.setSonar(run.id, { status: gate.status, dashboardUrl: gate.dashboardUrl, outcome: verdict.outcome });
    if (verdict.outcome === 'fail') return { phase: 'failed', reason: verdict.reason };
    return { phase: 'success', reason: verdict.reason };
  } catch (err) {
    return { phase: 'failed', reason: `sonar analysis failed: ${messageOf(err)}` };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}
