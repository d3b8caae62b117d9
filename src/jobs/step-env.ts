import type { PipelineRequest } from '../triggers/types.js';

/**
 * Predefined variables, GitLab CI style. Event data (branch names, titles) reaches steps only this
 * way, as environment values: never spliced into a command line.
 */
export function predefinedVariables(runId: string, req: PipelineRequest, extra: Record<string, string> = {}): Record<string, string> {
  const vars: Record<string, string> = {
    CI: 'true',
    SLIPWAY: 'true',
    SLIPWAY_PIPELINE_ID: runId,
    SLIPWAY_COMMIT_SHA: req.sha,
    SLIPWAY_COMMIT_SHORT_SHA: req.sha.slice(0, 8),
    SLIPWAY_COMMIT_REF_NAME: req.ref,
    SLIPWAY_EVENT: req.event,
    SLIPWAY_PROJECT_ID: String(req.project.id),
    SLIPWAY_PROJECT_PATH: req.project.path,
    SLIPWAY_DEFAULT_BRANCH: req.project.defaultBranch,
  };
  if (req.event === 'tag') vars['SLIPWAY_COMMIT_TAG'] = req.ref;
  else vars['SLIPWAY_COMMIT_BRANCH'] = req.ref;
  if (req.mergeRequest) {
    vars['SLIPWAY_MERGE_REQUEST_IID'] = String(req.mergeRequest.iid);
    vars['SLIPWAY_MERGE_REQUEST_SOURCE_BRANCH_NAME'] = req.mergeRequest.sourceBranch;
    vars['SLIPWAY_MERGE_REQUEST_TARGET_BRANCH_NAME'] = req.mergeRequest.targetBranch;
  }
  return { ...vars, ...extra };
}
