import type { NotifyEventKind } from '../config/config.js';
import type { JobRecord, RunSummary } from '../runs/types.js';

/**
 * One thing a chat channel is told about. Built from the run record only (as the commit statuses
 * and the MR note are), so a channel, GitLab and the run page never disagree.
 */
export interface ChatEvent {
  kind: NotifyEventKind;
  runId: string;
  runUrl: string;
  project: string;
  ref: string;
  sha: string;
  /** The job it is about (approval-requested, deployed), if any. */
  job: string | undefined;
  environment: string | undefined;
  /** The record's reason, as the run page shows it. */
  reason: string;
  at: string;
  /** What makes two calls the same event (the kind plus the job): it is sent once per run. */
  dedupeKey: string;
}

const base = (run: Pick<RunSummary, 'id' | 'request'>, publicUrl: string) => ({
  runId: run.id,
  runUrl: `${publicUrl}/runs/${run.id}`,
  project: run.request.project.path,
  ref: run.request.ref,
  sha: run.request.sha,
});

/** Pure: the event a run-phase change means, if any. Today: pipeline-failed. */
export function eventOfRun(run: RunSummary, publicUrl: string): ChatEvent | undefined {
  if (run.status.phase !== 'failed') return undefined;
  return {
    ...base(run, publicUrl),
    kind: 'pipeline-failed',
    job: undefined,
    environment: undefined,
    reason: run.status.reason,
    at: run.status.at,
    dedupeKey: 'pipeline-failed',
  };
}

/**
 * Pure: the event a job-phase change means, if any. A job waiting for a person (`manual`: a manual
 * job, or a deploy whose approval is missing) is approval-requested; a deploy job that succeeded is
 * deployed. A failed deploy job is analysis-aborted when an analysis stopped it (a canary step's gate or the
 * analysis after the rollout: its reason names the query, value and threshold), else rolled-back when
 * its release was rolled back (the deploy job's reason says so first: "…, rolled back to run <id>:").
 */
export function eventOfJob(run: Pick<RunSummary, 'id' | 'request' | 'deployments'>, job: JobRecord, publicUrl: string): ChatEvent | undefined {
  const common = { ...base(run, publicUrl), job: job.name, reason: job.status.reason, at: job.status.at };
  const environment = job.kind === 'deploy' ? job.name.replace(/^deploy:/, '') : undefined;
  if (job.status.phase === 'manual') return { ...common, kind: 'approval-requested', environment, dedupeKey: `approval-requested:${job.name}` };
  if (job.kind === 'deploy' && job.status.phase === 'success') {
    const d = run.deployments.find((x) => x.environment === environment);
    return { ...common, kind: 'deployed', environment, reason: d ? `${job.status.reason} (${d.image})` : job.status.reason, dedupeKey: `deployed:${job.name}` };
  }
  if (job.kind === 'deploy' && job.status.phase === 'failed') {
    const why = job.status.reason;
    if (ANALYSIS_ABORT.test(why)) return { ...common, kind: 'analysis-aborted', environment, dedupeKey: `analysis-aborted:${job.name}` };
    if (ROLLED_BACK.test(why)) return { ...common, kind: 'rolled-back', environment, dedupeKey: `rolled-back:${job.name}` };
  }
  return undefined;
}

/** A deploy job's reason after an analysis stopped it: `analysis <template> failed …` (src/analysis/), directly or as a canary's step gate. */
const ANALYSIS_ABORT = /(^|: )(step gate failed: )?analysis \S+ (failed|could not measure)/;
/** A deploy job's reason once its release was rolled back (src/deploy/run-deploy-job.ts, or a canary's abort back to stable). */
const ROLLED_BACK = /^deploy to \S+ (partly )?failed, rolled back to run |canary aborted at .*all traffic is back on/;
