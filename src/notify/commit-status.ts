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
    description: fitDescription(allowed ? `failed, allowed to fail: ${job.status.reason}` : job.status.reason),
    ...(job.coverage !== undefined ? { coverage: job.coverage } : {}),
  };
}

const DESCRIPTION_MAX = 255;
/** An analysis's reason: `… (limit N): <query> = <value> at <ISO time>, needs <condition>[; what serves now]`. */
const ANALYSIS_REASON = /^(.*?measurements \(limit \d+\): )(.+)( = \S+ at \d{4}-\d\d-\d\dT\S+, needs [^;]*)(;.*)?$/s;
/** The least of the query a shortened description keeps. */
const QUERY_MIN = 20;

/**
 * A description GitLab keeps whole (255 characters). Too long, the start is kept; but when it is an
 * analysis's reason, what follows the threshold goes first (the run record keeps it) and then the
 * query is shortened, so the value seen, when, and the threshold stay visible: what users of
 * today's tools miss most when a rollout is aborted.
 */
export function fitDescription(text: string): string {
  if (text.length <= DESCRIPTION_MAX) return text;
  const m = ANALYSIS_REASON.exec(text);
  if (m) {
    const [, head = '', query = '', seen = '', rest = ''] = m;
    if (head.length + query.length + seen.length <= DESCRIPTION_MAX) return `${head}${query}${seen}${rest}`.slice(0, DESCRIPTION_MAX);
    const room = DESCRIPTION_MAX - head.length - seen.length - 1;
    if (room >= QUERY_MIN) return `${head}${query.slice(0, room).trimEnd()}…${seen}`;
  }
  return text.slice(0, DESCRIPTION_MAX);
}
