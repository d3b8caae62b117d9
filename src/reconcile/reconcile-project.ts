import type { GitlabClient } from '../gitlab/client.js';
import type { Logger } from '../logging/logger.js';
import type { Queues } from '../queues/queues.js';
import type { ProjectWatch } from '../runs/project-watch.js';
import type { RunStore } from '../runs/run-store.js';
import { triggerKey, type PipelineRequest } from '../triggers/types.js';
import { hookProblems, isNewHead, mergeRequestOf, pushRequestOf, silenceProblem } from './missed-events.js';

export interface ReconcileDeps {
  gitlab: GitlabClient;
  store: RunStore;
  watch: ProjectWatch;
  queues: Queues;
  logger: Logger;
  /** Branches watched besides the default branch. */
  branches: readonly string[];
  silentAfterMs: number;
}

/** GitLab's clock and ours differ a little, and updated_at lands after the merge: look back this far. */
const CURSOR_OVERLAP_MS = 5 * 60_000;

/**
 * One pass over one project: merged merge requests and new heads on watched branches that no run
 * covers start one, through the same accept script as webhooks (same trigger keys: a late webhook
 * for the same commit, or a second pass, finds the run and makes none). Merges go first, so the
 * push a merge causes joins the merge's run, as with webhooks. Then GitLab's verdict on our hooks
 * and the project's silence are recorded and logged when they change.
 * Safe to run twice or on two planners at once: accepting is atomic and keyed.
 */
export async function reconcileProject(deps: ReconcileDeps, projectId: number, now: number = Date.now()): Promise<{ started: string[] }> {
  const { gitlab, watch, logger } = deps;
  const state = await watch.get(projectId);
  const since = state.firstSeenAt ?? now;
  let ref = state.ref;
  if (!ref) {
    const p = await gitlab.getProject(projectId);
    ref = { id: p.id, path: p.path_with_namespace, defaultBranch: p.default_branch ?? 'main', webUrl: p.web_url ?? undefined };
    await watch.update(projectId, { ref });
  }
  const started: string[] = [];
  let lastMissedAt = state.lastMissedAt;
  const start = async (request: PipelineRequest, what: string) => {
    const key = triggerKey(request);
    const { runId, created } = await deps.store.accept(request, `reconcile:${key}`, `reconciler:${new Date(now).toISOString()}`);
    if (!created) return;
    await deps.queues.enqueuePlan({ runId });
    started.push(runId);
    lastMissedAt = now;
    logger.warn(
      { project: ref.path, run: runId, sha: request.sha, ref: request.ref, event: request.event },
      `no webhook came for ${what}: the reconciler started the run`,
    );
  };

  const merged = await gitlab.listMergedMergeRequests(projectId, new Date(Math.max(since, (state.mergeCursor ?? since) - CURSOR_OVERLAP_MS)).toISOString());
  // Oldest merge first, so runs are created in the order things happened (newest-wins compares creation).
  for (const mr of [...merged].sort((a, b) => (a.merged_at ?? '').localeCompare(b.merged_at ?? ''))) {
    const request = mergeRequestOf(ref, mr, since);
    if (request) await start(request, `the merge of !${mr.iid}`);
  }

  const branches = (await gitlab.listBranches(projectId)).filter((b) => b.default || deps.branches.includes(b.name));
  const heads = { ...state.heads };
  for (const b of branches) {
    if (isNewHead(b, state.heads[b.name], since)) await start(pushRequestOf(ref, b, state.heads[b.name]), `${b.commit.id.slice(0, 8)} on ${b.name}`);
    heads[b.name] = b.commit.id;
  }

  const problems: string[] = [];
  try {
    problems.push(...hookProblems(await gitlab.listHooks(projectId), now));
  } catch (err) {
    // Reading hooks needs Maintainer; without it the other checks still run.
    problems.push(`cannot read the project's webhooks: ${err instanceof Error ? err.message : String(err)}`);
  }
  const silent = silenceProblem({ ...state, lastMissedAt }, now, deps.silentAfterMs);
  if (silent) problems.push(silent);
  if (JSON.stringify(problems) !== JSON.stringify(state.problems)) {
    if (problems.length > 0) logger.warn({ project: ref.path, problems }, 'events from this project may be lost');
    else logger.info({ project: ref.path }, 'events from this project arrive again');
  }
  await watch.update(projectId, {
    heads,
    mergeCursor: now,
    lastCheckedAt: now,
    problems,
    ...(lastMissedAt !== undefined ? { lastMissedAt } : {}),
  });
  return { started };
}
