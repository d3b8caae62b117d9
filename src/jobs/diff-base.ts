import { fetchBranchHead, mergeBase, parentsOf } from '../git/mirror-revisions.js';
import type { RunRecord } from '../runs/types.js';
import type { JobContext } from './context.js';
import { mirrorSource } from './work-tree.js';

/** The commit `rules: changes` compares the run's SHA with, or why there is none (then changes hold, as in GitLab). */
export type DiffBase = { base: string; what: string } | { unknown: string };

const ZERO_SHA = /^0+$/;
const SHA = /^[0-9a-f]{40}$/;
const GIT_TIMEOUT_MS = 30_000;
const FETCH_TIMEOUT_MS = 5 * 60_000;

/**
 * As GitLab compares for `rules: changes`:
 * - push: the previous head (`before`);
 * - merge request: the merge base of the source commit and the target branch's current head (the
 *   target branch is fetched into the mirror first), so the files the merge request changes;
 * - merge: the merge commit's first parent (the target branch before the merge), so the files the
 *   merge brought in. A merge event whose commit has one parent was a fast-forward merge: the
 *   target's old head is not in the event, so the base is unknown.
 * Never throws: a git or fetch failure becomes `unknown` with its reason. `mirrorDir` already holds
 * the run's SHA (mirrorFor).
 */
export async function diffBaseFor(ctx: Pick<JobContext, 'config'>, run: RunRecord, mirrorDir: string): Promise<DiffBase> {
  const { request } = run;
  try {
    switch (request.event) {
      case 'push':
        if (request.before === undefined || ZERO_SHA.test(request.before)) return { unknown: 'a new branch has no earlier commit to compare with' };
        if (!SHA.test(request.before)) return { unknown: `the push's before is not a commit SHA` };
        return { base: request.before, what: `the previous head ${request.before.slice(0, 8)}` };
      case 'merge': {
        const parents = await parentsOf(mirrorDir, request.sha, GIT_TIMEOUT_MS);
        const [first] = parents;
        if (parents.length < 2 || first === undefined)
          return { unknown: `${request.sha.slice(0, 8)} is not a merge commit (fast-forward merge): the target branch's previous head is unknown` };
        return { base: first, what: `the merge's first parent ${first.slice(0, 8)}` };
      }
      case 'mr': {
        const mr = request.mergeRequest;
        if (!mr) return { unknown: 'the merge request has no target branch' };
        const targetHead = await fetchBranchHead({ ...mirrorSource(ctx, request.project.path), branch: mr.targetBranch, timeoutMs: FETCH_TIMEOUT_MS }).catch(
          (err: unknown) => {
            throw new Error(`target branch ${mr.targetBranch} not fetched: ${err instanceof Error ? err.message : String(err)}`);
          },
        );
        const base = await mergeBase(mirrorDir, targetHead, request.sha, GIT_TIMEOUT_MS);
        if (!base) return { unknown: `${request.sha.slice(0, 8)} shares no history with ${mr.targetBranch}` };
        return { base, what: `the merge base ${base.slice(0, 8)} with ${mr.targetBranch}` };
      }
      case 'tag':
        return { unknown: 'a tag has no earlier commit to compare with' };
      case 'manual':
        // GitLab: in a pipeline run by hand (source web/api) rules: changes always holds.
        return { unknown: 'a run started by hand has no earlier commit to compare with' };
      case 'config':
        return { unknown: 'a config release builds nothing: it redeploys the live release' };
    }
  } catch (err) {
    return { unknown: err instanceof Error ? err.message : String(err) };
  }
}
