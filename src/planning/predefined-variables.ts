import type { PipelineRequest, TriggerEvent } from '../triggers/types.js';

/** A pipeline request as the planner sees it: webhooks plus runs started by hand (API, CLI). */
export type PlanEvent = TriggerEvent | 'manual';
export type PlanRequest = Omit<PipelineRequest, 'event'> & { event: PlanEvent };

/**
 * Every predefined variable, with the short names of the pipeline language (SLIPWAY_BRANCH) and
 * the GitLab-like long names the skeleton used (SLIPWAY_COMMIT_BRANCH) as aliases. Rules see
 * these; steps get them as environment values. Event data (branch names, titles) reaches steps
 * only this way, never spliced into a command line.
 */
export const PREDEFINED_VARIABLES = {
  CI: 'always "true"',
  SLIPWAY: 'always "true"',
  SLIPWAY_PIPELINE_ID: 'the run id',
  SLIPWAY_COMMIT_SHA: 'the commit being built',
  SLIPWAY_SHORT_SHA: 'its first 8 characters (alias SLIPWAY_COMMIT_SHORT_SHA)',
  SLIPWAY_COMMIT_SHORT_SHA: 'alias of SLIPWAY_SHORT_SHA',
  SLIPWAY_REF: 'branch or tag name (alias SLIPWAY_COMMIT_REF_NAME)',
  SLIPWAY_COMMIT_REF_NAME: 'alias of SLIPWAY_REF',
  SLIPWAY_BRANCH: 'branch name, unset for tags (alias SLIPWAY_COMMIT_BRANCH)',
  SLIPWAY_COMMIT_BRANCH: 'alias of SLIPWAY_BRANCH',
  SLIPWAY_TAG: 'tag name, set for tags only (alias SLIPWAY_COMMIT_TAG)',
  SLIPWAY_COMMIT_TAG: 'alias of SLIPWAY_TAG',
  SLIPWAY_DEFAULT_BRANCH: "the project's default branch",
  SLIPWAY_MR_IID: 'merge request number, for merge and mr events (alias SLIPWAY_MERGE_REQUEST_IID)',
  SLIPWAY_MERGE_REQUEST_IID: 'alias of SLIPWAY_MR_IID',
  SLIPWAY_MR_SOURCE_BRANCH: 'alias SLIPWAY_MERGE_REQUEST_SOURCE_BRANCH_NAME',
  SLIPWAY_MERGE_REQUEST_SOURCE_BRANCH_NAME: 'alias of SLIPWAY_MR_SOURCE_BRANCH',
  SLIPWAY_MR_TARGET_BRANCH: 'alias SLIPWAY_MERGE_REQUEST_TARGET_BRANCH_NAME',
  SLIPWAY_MERGE_REQUEST_TARGET_BRANCH_NAME: 'alias of SLIPWAY_MR_TARGET_BRANCH',
  SLIPWAY_MR_FROM_FORK: '"true" when the merge request comes from a fork',
  SLIPWAY_PROJECT_PATH: 'group/project',
  SLIPWAY_PROJECT_ID: 'GitLab project id',
  SLIPWAY_EVENT: 'merge, mr, push, tag, manual or config (a config release)',
  SLIPWAY_ENVIRONMENT: 'deploy jobs only: the environment',
  SLIPWAY_IMAGE: 'after the image job: the image by digest',
} as const;

export type PredefinedVariable = keyof typeof PREDEFINED_VARIABLES;

export interface PredefinedInput {
  pipelineId: string;
  request: PlanRequest;
  environment?: string;
  image?: string;
}

export function predefinedVariables(input: PredefinedInput): Record<string, string> {
  const { request: req } = input;
  const v: Record<string, string> = {
    CI: 'true',
    SLIPWAY: 'true',
    SLIPWAY_PIPELINE_ID: input.pipelineId,
    SLIPWAY_COMMIT_SHA: req.sha,
    SLIPWAY_SHORT_SHA: req.sha.slice(0, 8),
    SLIPWAY_REF: req.ref,
    SLIPWAY_EVENT: req.event,
    SLIPWAY_PROJECT_ID: String(req.project.id),
    SLIPWAY_PROJECT_PATH: req.project.path,
    SLIPWAY_DEFAULT_BRANCH: req.project.defaultBranch,
  };
  if (req.event === 'tag') v['SLIPWAY_TAG'] = req.ref;
  else v['SLIPWAY_BRANCH'] = req.ref;
  if (req.mergeRequest) {
    v['SLIPWAY_MR_IID'] = String(req.mergeRequest.iid);
    v['SLIPWAY_MR_SOURCE_BRANCH'] = req.mergeRequest.sourceBranch;
    v['SLIPWAY_MR_TARGET_BRANCH'] = req.mergeRequest.targetBranch;
    v['SLIPWAY_MR_FROM_FORK'] = String(req.mergeRequest.fork);
  }
  if (input.environment !== undefined) v['SLIPWAY_ENVIRONMENT'] = input.environment;
  if (input.image !== undefined) v['SLIPWAY_IMAGE'] = input.image;
  return withAliases(v);
}

const ALIASES: Record<string, string> = {
  SLIPWAY_SHORT_SHA: 'SLIPWAY_COMMIT_SHORT_SHA',
  SLIPWAY_REF: 'SLIPWAY_COMMIT_REF_NAME',
  SLIPWAY_BRANCH: 'SLIPWAY_COMMIT_BRANCH',
  SLIPWAY_TAG: 'SLIPWAY_COMMIT_TAG',
  SLIPWAY_MR_IID: 'SLIPWAY_MERGE_REQUEST_IID',
  SLIPWAY_MR_SOURCE_BRANCH: 'SLIPWAY_MERGE_REQUEST_SOURCE_BRANCH_NAME',
  SLIPWAY_MR_TARGET_BRANCH: 'SLIPWAY_MERGE_REQUEST_TARGET_BRANCH_NAME',
};

function withAliases(v: Record<string, string>): Record<string, string> {
  const out = { ...v };
  for (const [short, long] of Object.entries(ALIASES)) if (v[short] !== undefined) out[long] = v[short];
  return out;
}
