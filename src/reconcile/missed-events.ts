import type { Branch, MergedMergeRequest, ProjectHook } from '../gitlab/client.js';
import type { WatchState } from '../runs/project-watch.js';
import type { PipelineRequest, ProjectRef } from '../triggers/types.js';

/**
 * Pure: the request a webhook would have made for a branch head (GitLab's Push Hook, as
 * triggers/classify.ts reads it), so both paths share one trigger key and make one run.
 */
export function pushRequestOf(project: ProjectRef, branch: Branch, before: string | undefined): PipelineRequest {
  return {
    kind: 'ci',
    event: 'push',
    project,
    sha: branch.commit.id,
    ref: branch.name,
    before,
    mergeRequest: undefined,
    actor: undefined,
    refProtected: branch.protected,
  };
}

/**
 * Pure: the request a Merge Request Hook with action merge would have made. The SHA is chosen as
 * classify.ts does (merge_commit_sha, else the MR's head for a fast-forward merge). Merges before
 * `since` (when Slipway began watching) are not missed events.
 */
export function mergeRequestOf(project: ProjectRef, mr: MergedMergeRequest, since: number): PipelineRequest | undefined {
  if (mr.state !== 'merged' || !mr.merged_at || Date.parse(mr.merged_at) < since) return undefined;
  const sha = mr.merge_commit_sha ?? mr.sha;
  if (!sha) return undefined;
  return {
    kind: 'full',
    event: 'merge',
    project,
    sha,
    ref: mr.target_branch,
    before: undefined,
    mergeRequest: {
      iid: mr.iid,
      title: mr.title,
      sourceBranch: mr.source_branch,
      targetBranch: mr.target_branch,
      fork: mr.source_project_id !== mr.target_project_id,
    },
    actor: mr.merged_by?.username ?? undefined,
  };
}

/**
 * Pure: whether a watched branch's head is an event Slipway may have missed. A head it saw at the
 * last pass is not; a branch it has no head for yet counts only when its head commit is newer than
 * the moment Slipway began watching the project (older heads were there before: a baseline).
 */
export function isNewHead(branch: Branch, known: string | undefined, since: number): boolean {
  if (known !== undefined) return known !== branch.commit.id;
  const at = Date.parse(branch.commit.committed_date);
  return Number.isFinite(at) && at >= since;
}

/** Our receiver's path: hooks pointing anywhere else are someone else's concern. */
const RECEIVER_PATH = /\/webhooks\/gitlab\/?$/;

/**
 * Pure: GitLab's verdict on Slipway's hooks (alert_status, disabled_until: GitLab disables a hook
 * after 4 failures in a row, for up to 24 hours, or for good after a 4xx). Names the hook by id and
 * host only: its URL may carry credentials.
 */
export function hookProblems(hooks: readonly ProjectHook[], now: number): string[] {
  const out: string[] = [];
  for (const h of hooks) {
    if (!URL.canParse(h.url)) continue;
    const u = new URL(h.url);
    if (!RECEIVER_PATH.test(u.pathname)) continue;
    const where = `hook ${h.id} (${u.host}${u.pathname})`;
    if (h.alert_status === 'temporarily_disabled' || (h.disabled_until && Date.parse(h.disabled_until) > now)) {
      out.push(`GitLab has disabled ${where} until ${h.disabled_until ?? 'later'} after failed deliveries: it sends nothing until then`);
    } else if (h.alert_status === 'disabled') {
      out.push(`GitLab has disabled ${where} after failed deliveries: re-enable it in the project's Settings > Webhooks`);
    }
  }
  return out;
}

/** Pure: a project that sent no webhook for longer than allowed while the reconciler keeps finding missed events. */
export function silenceProblem(s: Pick<WatchState, 'lastWebhookAt' | 'firstSeenAt' | 'lastMissedAt'>, now: number, silentAfterMs: number): string | undefined {
  if (s.lastMissedAt === undefined || s.lastMissedAt < (s.lastWebhookAt ?? 0)) return undefined;
  const quietSince = s.lastWebhookAt ?? s.firstSeenAt ?? s.lastMissedAt;
  if (now - quietSince <= silentAfterMs) return undefined;
  const minutes = Math.round((now - quietSince) / 60_000);
  const last = s.lastWebhookAt === undefined ? 'no webhook ever' : `no webhook for ${minutes} min`;
  return `${last} while commits arrive (the reconciler started a missed run at ${new Date(s.lastMissedAt).toISOString()}): check the project's webhook`;
}
