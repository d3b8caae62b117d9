import type { PlannedJob } from '../planning/plan.js';
import type { JobRecord } from '../runs/types.js';
import { ruleOf, waitingReason, whoMayApprove } from '../approvals/rule.js';

export type Decision = { kind: 'wait'; reason: string } | { kind: 'run' } | { kind: 'skip'; reason: string } | { kind: 'manual'; reason: string };

const ACTIVE = new Set(['pending', 'queued', 'running']);

/** Finished and counts as passed for `needs` (an allowed failure passes, as in GitLab). */
function passed(j: JobRecord): boolean {
  return j.status.phase === 'success' || (j.status.phase === 'failed' && j.allowedFailure === true);
}

/**
 * Whether a need that is a manual job nobody started yet is left behind, as GitLab does: an optional
 * manual job (allow_failure true, its default) of an earlier stage does not block the later stages;
 * one with `allow_failure: false` (every approval-gated deploy) does, and so does a `needs:` on it.
 */
export function optionalManual(job: Pick<PlannedJob, 'stageNeeds'>, need: Pick<PlannedJob, 'name' | 'when' | 'allowFailure'>): boolean {
  return need.when === 'manual' && need.allowFailure === true && (job.stageNeeds ?? []).includes(need.name);
}

/**
 * Pure: what to do with one pending job, given the records of the jobs it needs. GitLab's rules:
 * on_success runs when every need passed; on_failure only when one failed; always either way;
 * manual waits for a person (src/approvals/). A job whose need was skipped or canceled is skipped too.
 * `optional(name)`: the need is an optional manual job (see optionalManual); while it waits, it is
 * passed over.
 */
export function decide(
  job: PlannedJob,
  needs: ReadonlyArray<JobRecord | undefined>,
  projectPath: string,
  optional: (name: string) => boolean = () => false,
): Decision {
  const known = needs.filter((n): n is JobRecord => n !== undefined && !(n.status.phase === 'manual' && optional(n.name)));
  const waitingOn = known.find((n) => ACTIVE.has(n.status.phase));
  if (waitingOn) return { kind: 'wait', reason: `waiting for ${waitingOn.name}` };
  const manual = known.find((n) => n.status.phase === 'manual');
  if (manual) return { kind: 'wait', reason: `waiting for manual job ${manual.name}` };
  const failed = known.find((n) => !passed(n));
  switch (job.when) {
    case 'always':
      return { kind: 'run' };
    case 'on_failure':
      return failed ? { kind: 'run' } : { kind: 'skip', reason: 'skipped: no earlier job failed (when: on_failure)' };
    case 'manual':
      if (failed) return { kind: 'skip', reason: `skipped: ${failed.name} ${failed.status.phase}` };
      // Says who may approve (or start) it: "waiting: 1 more approval by a Maintainer of team/shop" for a
      // gated deploy; a plain manual job reads as GitLab's does, a job someone starts.
      if (job.kind === 'deploy' && job.approval) return { kind: 'manual', reason: waitingReason(ruleOf(job), [], projectPath) };
      return { kind: 'manual', reason: `manual job: waiting for ${whoMayApprove(ruleOf(job), projectPath)} to start it` };
    case 'on_success':
      return failed ? { kind: 'skip', reason: `skipped: ${failed.name} ${failed.status.phase}` } : { kind: 'run' };
  }
}

/** Pure: the run's verdict once nothing is left to run. */
export function verdict(jobs: readonly JobRecord[]): { phase: 'succeeded' | 'failed' | 'canceled'; reason: string } {
  const canceled = jobs.find((j) => j.status.phase === 'canceled');
  const failed = jobs.find((j) => j.status.phase === 'failed' && !j.allowedFailure);
  if (failed) return { phase: 'failed', reason: failed.status.reason };
  if (canceled) return { phase: 'canceled', reason: canceled.status.reason };
  const manual = jobs.filter((j) => j.status.phase === 'manual').map((j) => j.name);
  const allowed = jobs.filter((j) => j.status.phase === 'failed').map((j) => j.name);
  const parts = ['all jobs passed'];
  if (allowed.length > 0) parts.push(`allowed to fail: ${allowed.join(', ')}`);
  if (manual.length > 0) parts.push(`waiting: ${manual.join(', ')}`);
  return { phase: 'succeeded', reason: parts.join('; ') };
}
