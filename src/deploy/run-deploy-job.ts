import { readFile } from 'node:fs/promises';
import { UnrecoverableError } from 'bullmq';
import { builtinDeployTemplate } from '../config/paths.js';
import { messageOf } from '../errors/errors.js';
import { formatProblem } from '../pipeline/errors.js';
import { FORK_REASONS, type PlannedDeployJob } from '../planning/plan.js';
import { FINISHED_JOB_PHASES, type RunRecord } from '../runs/types.js';
import { advanceRun } from '../scheduler/advance-run.js';
import { finishJob, type JobOutcome } from '../scheduler/finish-job.js';
import type { DeployContext } from './deploy-context.js';
import { DeployFailedError } from './deploy-errors.js';
import { clusterRecords, placesSummary } from './place-results.js';
import { type ReleaseCheck, rollOut } from './roll-out.js';
import { canaryExtraMs, rollOutCanary, type PauseApproval } from './canary-roll-out.js';
import { CANARY_APPROVAL_MAX_WAIT_MS, CanaryPauses } from '../runs/canary-pause.js';
import { analysisBoundMs } from '../analysis/run-analysis.js';
import { analysisVariables, canaryStepAnalysis, postDeployAnalysis, promotionAnalysis } from './post-deploy-analysis.js';
import { EnvironmentLock } from './environment-lock.js';
import { LastDeploymentRecord, newerApplied, supersededReason } from './newest-wins.js';
import { renderTemplate } from './template.js';
import { runsForkCode, variablesFor } from '../jobs/job-variables.js';
import { readDirAt } from '../jobs/work-tree.js';
import type { PreparedRelease, ReleaseSpec, Verdict } from './deploy-target.js';
import { imageForEnvironment } from './environment-registry.js';
import { environmentConfigFor, releaseOrder } from './config-release.js';
import { deployGate } from '../gates/deploy-gate.js';
import type { DeployRecorded } from './release-ledger.js';

/** Not done: the queue job is put back and tried again at `retryAt` (ms since the epoch), without spending an attempt. */
export type DeployOutcome = { done: true } | { done: false; retryAt: number };

const LOCK_RETRY_MS = 3_000;
/** A deploy waiting for a resume looks again this often. */
const PAUSED_RETRY_MS = 3_000;

/**
 * How long a deploy job waits while automatic deploys to its environment are paused, counted from
 * when it was queued; then it is canceled with the reason (a later run deploys after the resume).
 */
export const PAUSED_DEPLOY_MAX_WAIT_MS = 24 * 3600_000;

/** Built-in templates are named (docker-service); anything with a slash or .yml is a file in the repo. */
function isRepoPath(template: string): boolean {
  return template.includes('/') || /\.ya?ml$/.test(template);
}

/**
 * The deploy job of a run for one environment: lock the environment, render the template with the
 * image digest, then roll out through the `DeployTarget` seam (apply, wait for the verdict, roll
 * back when it is bad). A failed verdict keeps the old release serving. The newest pipeline wins:
 * when a run created after this one already deployed the environment, this job is superseded
 * (canceled with the reason) and nothing is applied.
 */
export async function runDeployJob(ctx: DeployContext, runId: string, environment: string, opts: { queuedAt?: number } = {}): Promise<DeployOutcome> {
  const { store } = ctx;
  const run = await store.get(runId);
  const plan = run?.plan;
  if (!run || !plan) throw new UnrecoverableError(`run ${runId} has no plan`);
  const job = plan.jobs.find((j): j is PlannedDeployJob => j.kind === 'deploy' && j.environment === environment);
  if (!job) throw new UnrecoverableError(`run ${runId} plans no deploy to ${environment}`);
  const record = run.jobs.find((j) => j.name === job.name);
  if (run.status.phase !== 'running' || !record || FINISHED_JOB_PHASES.has(record.status.phase)) {
    await advanceRun(ctx, ctx.redis, runId);
    return { done: true };
  }
  // Soak, deploy windows and freezes: a closed gate keeps the job queued, saying until when.
  const live = job.soak ? await new LastDeploymentRecord(ctx.redis, store.keys.environment(job.service, job.soak.after)).read() : null;
  const gate = deployGate(job, run.request.sha, live, new Date());
  if (gate.kind === 'cancel') {
    await store.appendLog(runId, job.name, 'system', gate.reason);
    await finishJob(ctx, runId, job, { phase: 'canceled', reason: gate.reason });
    return { done: true };
  }
  if (gate.kind === 'wait') {
    await store.updateJob(runId, job.name, 'queued', gate.reason);
    // GitLab hears of it once per kind of wait; the run record's reason keeps the time left current.
    if (!record.status.reason.startsWith(gate.reason.replace(/\(.*$/, ''))) {
      await store.appendLog(runId, job.name, 'system', gate.reason);
      await ctx.reporter.jobChanged(runId, job.name);
      await ctx.reporter.runChanged(runId);
    }
    return { done: false, retryAt: gate.recheckAt.getTime() };
  }
  // A promotion into the environment's registry runs under the lock too, within its own deadline;
  // a canary holds its environment through its pauses and its weights' waits, blue-green through its scaleDownDelay, an analysis through its measurements.
  const promotionMs = job.spec.registry === undefined ? 0 : ctx.config.promotion.timeoutMs;
  const pauses =
    job.strategy.type === 'canary'
      ? canaryExtraMs(job.strategy.steps, job.timeoutMs)
      : job.strategy.type === 'blue-green'
        ? (job.strategy.scaleDownDelayMs ?? 30_000)
        : 0;
  const lock = new EnvironmentLock(
    ctx.redis,
    store.keys.envLock(job.service, environment),
    job.timeoutMs + promotionMs + pauses + analysisBoundMs([...(job.analysis ?? []), ...(job.prePromotionAnalysis ?? [])]) + 60_000,
  );
  const holder = await lock.acquire(runId);
  if (holder) {
    // A rollback on demand holds the lock as `rollback:<release id>`; a deploy as its run id.
    const by = holder.startsWith('rollback:') ? `rolled back (release ${holder.slice('rollback:'.length)})` : `deployed by run ${holder}`;
    await store.updateJob(runId, job.name, 'queued', `waiting: ${environment} is being ${by}`);
    return { done: false, retryAt: Date.now() + LOCK_RETRY_MS };
  }
  try {
    const last = new LastDeploymentRecord(ctx.redis, store.keys.environment(job.service, environment));
    // Checked under the lock, so a newer deploy cannot land between this check and our apply.
    const newer = await newerApplied(last, releaseOrder(run));
    if (newer) {
      const reason = supersededReason(newer, environment);
      await store.appendLog(runId, job.name, 'system', `${reason}: this older release is not applied`);
      await finishJob(ctx, runId, job, { phase: 'canceled', reason, extra: { supersededBy: newer.runId } });
    } else {
      // Checked under the lock, so a rollback asked for before this point is never overwritten by this deploy.
      const paused = await ctx.releases.pausedReason(job.service, environment);
      if (!paused) {
        await finishJob(ctx, runId, job, await deploy(ctx, run, job, last));
      } else if (Date.now() - (opts.queuedAt ?? Date.now()) > PAUSED_DEPLOY_MAX_WAIT_MS) {
        const reason = `canceled: ${paused.replace(/^waiting: /, '')}; waited ${PAUSED_DEPLOY_MAX_WAIT_MS / 3600_000} h, the most a deploy waits for a resume`;
        await finishJob(ctx, runId, job, { phase: 'canceled', reason });
      } else {
        if (record.status.reason !== paused) {
          await store.updateJob(runId, job.name, 'queued', paused);
          await ctx.reporter.jobChanged(runId, job.name);
        }
        return { done: false, retryAt: Date.now() + PAUSED_RETRY_MS };
      }
    }
  } finally {
    await lock.release(runId);
  }
  return { done: true };
}

async function deploy(ctx: DeployContext, run: RunRecord, job: PlannedDeployJob, last: LastDeploymentRecord): Promise<JobOutcome> {
  const { store, reporter } = ctx;
  const { environment } = job;
  // The planner leaves deploys out for forks; a recorded plan that says otherwise still never deploys one.
  if (runsForkCode(run.request)) return { phase: 'failed', reason: FORK_REASONS.deploy };
  if (!run.image) return { phase: 'failed', reason: 'no image was built for this run' };
  const target = ctx.targets[job.spec.target];
  if (!target) {
    return {
      phase: 'failed',
      reason:
        job.spec.target === 'kubernetes'
          ? 'deploy target kubernetes: no clusters are configured on this deploy worker (SLIPWAY_CLUSTERS)'
          : `deploy target '${job.spec.target}' is not available (${Object.keys(ctx.targets).join(', ')} only)`,
    };
  }
  await store.updateJob(run.id, job.name, 'running', `deploying ${run.image.ref} to ${environment}`);
  await reporter.jobChanged(run.id, job.name);
  const onLog = (line: string) => void store.appendLog(run.id, job.name, 'system', line);
  // Promoted into the environment's registry and checked there before anything is applied.
  const placed = await imageForEnvironment(ctx, run, run.image, job, onLog);
  if (!placed.ok) return { phase: 'failed', reason: placed.reason };
  run.image = placed.image; // from here on the image is its reference in the environment's registry

  // Environment-scoped project variables are available to the template by name (${DB_PASSWORD}).
  const secrets = await variablesFor(ctx.variables, run, environment);
  // The API's environment config over the file's variables: both the pods' environment and template values.
  const config = await environmentConfigFor(ctx, job.service, environment, onLog);
  const variables = { ...Object.fromEntries(Object.entries(job.spec.variables ?? {}).map(([k, v]) => [k, String(v)])), ...config };
  const prepared = target.prepare
    ? await target.prepare({
        template: job.template,
        base: baseSpec(run, job),
        commitSha: run.request.sha,
        runUrl: `${ctx.config.http.publicUrl}/runs/${run.id}`,
        clusters: job.clusters,
        ...(job.clusterWeights ? { clusterWeights: job.clusterWeights } : {}),
        ...(job.onClusterFailure ? { onClusterFailure: job.onClusterFailure } : {}),
        strategy: job.strategy.type === 'canary' ? { type: 'canary' } : job.strategy,
        ...(job.spec.trafficRouter ? { trafficRouter: job.spec.trafficRouter } : {}),
        variables,
        secrets: secrets.values,
        repo: {
          file: (path) => ctx.gitlab.readFile(run.request.project.id, path, run.request.sha),
          dir: (path, accept) => readDirAt(ctx, run, path, accept),
        },
      })
    : await dockerRelease(ctx, run, job, secrets.values, variables, config);
  if (!prepared.ok) return { phase: 'failed', reason: prepared.reason };
  if (prepared.source) onLog(`rendered ${prepared.source} for ${environment}`);
  const recorded = (outcome: DeployRecorded['outcome'], url: string | null, detail: string) =>
    recordRelease(ctx, run, job, { spec: prepared.spec, target: target.kind, outcome, url, detail });
  try {
    const analysisOpts = {
      prometheusUrl: ctx.config.prometheus.url,
      vars: analysisVariables({ service: job.service, environment, commitSha: run.request.sha, runId: run.id, image: run.image.ref }, variables),
      secrets: secrets.values,
      onLog,
    };
    const canary = job.strategy.type === 'canary';
    const blueGreen = job.strategy.type === 'blue-green';
    // Kubernetes' blue-green keeps the previous side up after the switch: the analysis runs there
    // (postPromotionAnalysis), so a failure switches back instead of rolling a Deployment back.
    const postPromotion = blueGreen && target.kind === 'kubernetes' && job.analysis?.length ? job.analysis : undefined;
    const aborted = () => ctx.metrics.analysisAborted(environment);
    const gates = {
      ...(blueGreen && job.prePromotionAnalysis?.length
        ? { prePromotion: countedAborts(promotionAnalysis(job.prePromotionAnalysis, 'prePromotionAnalysis', analysisOpts), aborted) }
        : {}),
      ...(postPromotion ? { postPromotion: countedAborts(promotionAnalysis(postPromotion, 'postPromotionAnalysis', analysisOpts), aborted) } : {}),
    };
    // A canary runs the analysis at each step (and is aborted by a failing one); any other rollout once it is healthy.
    const analysis = job.analysis?.length && !canary && !postPromotion ? postDeployAnalysis(job.analysis, analysisOpts) : undefined;
    // A failed analysis aborts the deploy: counted here, where the environment is known.
    const analyze: ReleaseCheck | undefined = analysis
      ? async (release) => {
          const verdict = await analysis(release);
          if (!verdict.passed) ctx.metrics.analysisAborted(environment);
          return verdict;
        }
      : undefined;
    const opts = { timeoutMs: job.timeoutMs, onLog, onRollBack: () => ctx.metrics.rolledBack(environment), ...(analyze ? { analyze } : {}), ...gates };
    const release =
      job.strategy.type === 'canary'
        ? await rollOutCanary(target, prepared.spec, job.strategy.steps, {
            ...opts,
            ...(job.analysis?.length ? { onStep: countedAborts(canaryStepAnalysis(job.analysis, analysisOpts), aborted) } : {}),
            approval: pauseApproval(ctx, run.id, job.name),
            onStatus: async (status) => {
              await store.updateJob(run.id, job.name, 'running', status);
              await reporter.jobChanged(run.id, job.name);
            },
          })
        : await rollOut(target, prepared.spec, opts);
    if (canary) await new CanaryPauses(ctx.redis, ctx.config.redisPrefix).close(run.id, job.name);
    const url = release.address ?? release.url;
    await recorded('live', url, `${job.service} answers at ${url}`);
    const at = new Date().toISOString();
    if (!(await last.record({ runId: run.id, runCreatedAt: releaseOrder(run).createdAt, sha: run.request.sha, at }))) {
      // Only when this deploy outlived its environment lock and a newer one finished meanwhile.
      onLog(`a newer run's deploy to ${environment} is recorded; it stays the one newer deploys compare with`);
    }
    await store.addDeployment(run.id, { environment, target: target.kind, url, image: run.image.ref, at, ...clusterRecords(release.places) });
    return { phase: 'success', reason: `${job.service} answers at ${url}${placesSummary(release.places)}` };
  } catch (err) {
    if (job.strategy.type === 'canary') await new CanaryPauses(ctx.redis, ctx.config.redisPrefix).close(run.id, job.name);
    // A bad verdict was rolled back by rollOut (DeployFailedError); anything else left the target as it was.
    await recorded(err instanceof DeployFailedError ? 'rolled-back' : 'failed', null, messageOf(err));
    // Said first, so GitLab's commit status (cut at 255 characters) and the MR note keep it: what serves now.
    const back = err instanceof DeployFailedError && err.more.rolledBack?.toRun ? `, rolled back to run ${err.more.rolledBack.toRun}` : '';
    if (err instanceof DeployFailedError && err.more.places && err.more.places.length > 0) {
      // Several clusters: the record says what each runs now. Kept on some (keep-healthy), this run is
      // live there, so an older run must not replace it (newest wins).
      const at = new Date().toISOString();
      const partial = err.more.partial === true;
      if (partial) await last.record({ runId: run.id, runCreatedAt: run.createdAt, sha: run.request.sha, at });
      const outcome = partial ? 'partial' : 'failed';
      await store.addDeployment(run.id, { environment, target: target.kind, url: '', image: run.image.ref, at, outcome, ...clusterRecords(err.more.places) });
      return { phase: 'failed', reason: `deploy to ${environment} ${partial ? 'partly ' : ''}failed${back}: ${messageOf(err)}` };
    }
    return { phase: 'failed', reason: `deploy to ${environment} failed${back}: ${messageOf(err)}` };
  }
}

/** A canary step's analysis gate, counting each abort it causes. */
function countedAborts<S>(gate: (step: S) => Promise<Verdict>, onAbort: () => void): (step: S) => Promise<Verdict> {
  return async (step) => {
    const verdict = await gate(step);
    if (!verdict.healthy) onAbort();
    return verdict;
  };
}

/**
 * A canary's `pause: {}` waits for a decision through the approvals API: the pause is recorded in
 * Redis (runs/canary-pause.ts), the approvals code writes the decision there, and this polls it. A
 * canceled run rejects it. A retried job (after a worker crash) finds the same pause again, with its
 * deadline and any decision made meanwhile.
 */
function pauseApproval(ctx: DeployContext, runId: string, job: string): PauseApproval {
  const pauses = new CanaryPauses(ctx.redis, ctx.config.redisPrefix);
  return {
    async open(at) {
      const pause = await pauses.open(runId, job, { ...at, maxWaitMs: CANARY_APPROVAL_MAX_WAIT_MS });
      await ctx.store.appendLog(
        runId,
        job,
        'system',
        `waiting for an approval at step ${at.step} of ${at.of} (POST /api/runs/${runId}/jobs/${job}/approve, or reject)`,
      );
      return { deadline: Date.parse(pause.deadline) };
    },
    async poll(step) {
      const canceled = await ctx.redis.get(ctx.store.keys.cancel(runId));
      if (canceled !== null) return { approved: false, reason: `the run was canceled: ${canceled}` };
      const decision = (await pauses.read(runId, job, step))?.decision;
      if (!decision) return null;
      return decision.kind === 'approved'
        ? { approved: true, by: decision.by.map((u) => `@${u}`).join(', ') }
        : { approved: false, reason: `rejected by @${decision.by}: ${decision.reason}` };
    },
  };
}

/** The verdict into the release history; a history that cannot be written is logged and never fails the deploy. */
async function recordRelease(
  ctx: DeployContext,
  run: RunRecord,
  job: PlannedDeployJob,
  r: Pick<DeployRecorded, 'spec' | 'target' | 'outcome' | 'url' | 'detail'>,
): Promise<void> {
  const { request } = run;
  try {
    await ctx.releases.recordDeploy({
      ...r,
      kind: request.configRelease ? 'config' : 'deploy',
      project: { id: request.project.id, path: request.project.path },
      sha: request.sha,
      digest: run.image?.digest ?? null,
      reason: `pipeline ${run.id}: ${request.event} of ${request.ref}${request.actor ? ` by ${request.actor}` : ''}`,
      timeoutMs: job.timeoutMs,
    });
  } catch (err) {
    ctx.logger.warn({ run: run.id, environment: job.environment, err: messageOf(err) }, 'could not record the release in its history');
    void ctx.store.appendLog(run.id, job.name, 'system', `the release history could not record this deploy: ${messageOf(err)}`);
  }
}

function baseSpec(run: RunRecord, job: PlannedDeployJob): ReleaseSpec {
  return {
    service: job.service,
    environment: job.environment,
    image: run.image?.ref ?? '',
    env: {},
    port: job.spec.port,
    healthPath: job.spec.health,
    runId: run.id,
    ...(job.spec.frontProxy ? { frontProxyPort: job.spec.frontProxy.port } : {}),
  };
}

/** The docker host: one template file (built-in or in the repository) giving the command and environment. */
async function dockerRelease(
  ctx: DeployContext,
  run: RunRecord,
  job: PlannedDeployJob,
  secrets: Record<string, string>,
  variables: Record<string, string>,
  config: Record<string, string>,
): Promise<PreparedRelease> {
  const text = isRepoPath(job.template)
    ? await ctx.gitlab.readFile(run.request.project.id, job.template, run.request.sha)
    : await readFile(builtinDeployTemplate(job.template), 'utf8').catch(() => null);
  if (text === null) {
    return {
      ok: false,
      reason: `deploy template '${job.template}' not found${isRepoPath(job.template) ? ` at ${run.request.sha.slice(0, 8)}` : ' among the built-in templates'}`,
    };
  }
  const values = {
    ...secrets,
    SLIPWAY_IMAGE: run.image?.ref ?? '',
    SLIPWAY_ENVIRONMENT: job.environment,
    SLIPWAY_SERVICE: job.service,
    SLIPWAY_COMMIT_SHA: run.request.sha,
    SLIPWAY_PIPELINE_ID: run.id,
    ...variables,
  };
  const rendered = renderTemplate(text, values, job.template);
  if (!rendered.ok) return { ok: false, reason: rendered.problems.map(formatProblem).join('\n') };
  return {
    ok: true,
    spec: { ...baseSpec(run, job), ...(rendered.spec.command ? { command: rendered.spec.command } : {}), env: { ...config, ...rendered.spec.env } },
  };
}
