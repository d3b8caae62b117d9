import type { RunRecord } from '../runs/types.js';
import type { VariableStore } from '../variables/variable-store.js';

// The build and deploy jobs ask here whether a run's code comes from a fork.
export { runsForkCode } from '../triggers/types.js';

/** Protected variables reach protected refs only: GitLab's ref_protected when known, else the default branch. */
export function isProtectedRef(req: RunRecord['request']): boolean {
  if (req.refProtected !== undefined) return req.refProtected;
  const branch = req.event === 'mr' ? req.mergeRequest?.sourceBranch : req.ref;
  return req.event !== 'tag' && branch === req.project.defaultBranch;
}

/** The project's (and environment's) variables for one job; none for fork merge requests. */
export async function variablesFor(
  store: VariableStore | undefined,
  run: RunRecord,
  environment?: string,
): Promise<{ values: Record<string, string>; masked: string[] }> {
  if (!store) return { values: {}, masked: [] };
  return store.resolve(run.request.project.id, {
    environment,
    protectedRef: isProtectedRef(run.request),
    fork: run.request.mergeRequest?.fork ?? false,
  });
}

/**
 * The project variables rules and `image:` may read at planning time: project-wide ones only (a
 * job's environment is not known before the plan), protected ones only on protected refs, none for
 * fork merge requests, and never a masked one: a rule's outcome is recorded in the plan and shown in
 * GitLab, so `if: $TOKEN =~ /^a/` would spell a secret out one job at a time.
 */
export async function ruleVariablesFor(store: VariableStore | undefined, run: RunRecord): Promise<Record<string, string>> {
  const { values, masked } = await variablesFor(store, run);
  const hidden = new Set(masked);
  return Object.fromEntries(Object.entries(values).filter(([, value]) => !hidden.has(value)));
}
