import type { CommitState } from '../gitlab/client.js';
import type { JobPhase, JobRecord, RunSummary } from '../runs/types.js';

const STATE_OF: Record<JobPhase, CommitState | undefined> = {
  pending: 'pending',
  queued: 'pending',
  // A manual job waits for a person; a pending status would hold the commit "running" forever.
  manual: undefined,
  running: 'running',
  success: 'success',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'canceled',
};

export interface StatusPost {
  sha: string;
  state: CommitState;
  name: string;
  ref: string;
  targetUrl: string;
  description: string;
  /** The job's coverage percentage (GitLab shows it on the pipeline and the MR). */
  coverage?: number;
}

/** Pure: what GitLab should show for one job of a run (one check per job: slipway/<job>). */
export function statusFor(
  run: Pick<RunSummary, 'id' | 'request'>,
  job: Pick<JobRecord, 'name' | 'status' | 'allowedFailure' | 'coverage'>,
  publicUrl: string,
): StatusPost | undefined {
  // An allowed failure must not fail the commit (GitLab shows such pipelines as passed with warnings).
  const allowed = job.status.phase === 'failed' && job.allowedFailure === true;
  const state = allowed ? 'success' : STATE_OF[job.status.phase];
  if (!state) return undefined;
  return {
    sha: run.request.sha,
    state,
    name: `slipway/${job.name}`,
    ref: run.request.ref,
    targetUrl: `${publicUrl}/runs/${run.id}`,
    // GitLab truncates descriptions at 255 characters; keep the start, which says what failed.
    description: (allowed ? `failed, allowed to fail: ${job.status.reason}` : job.status.reason).slice(0, 255),
    ...(job.coverage !== undefined ? { coverage: job.coverage } : {}),
  };
}
