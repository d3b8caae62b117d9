import type { RunRecord } from '../runs/types.js';
import type { VariableStore } from '../variables/variable-store.js';

/** Protected variables reach protected refs only: GitLab's ref_protected when known, else the default branch. */
export function isProtectedRef(req: RunRecord['request']): boolean {
  if (req.refProtected !== undefined) return req.refProtected;
  const branch = req.event === 'mr' ? req.mergeRequest?.sourceBranch : req.ref;
  return req.event !== 'tag' && branch === req.project.defaultBranch;
}

/** The project's (and environment's) variables for one job; none for fork merge requests. */
export async function variablesFor(store: VariableStore | undefined, run: RunRecord, environment?: string): Promise<{ values: Record<string, string>; masked: string[] }> {
  if (!store) return { values: {}, masked: [] };
  return store.resolve(run.request.project.id, {
    environment,
    protectedRef: isProtectedRef(run.request),
    fork: run.request.mergeRequest?.fork ?? false,
  });
}
