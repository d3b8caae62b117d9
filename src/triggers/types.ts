/** What an event asks for. `full` = test, image, deploy to pre; `ci` = tests only; `release` = tag. */
export type PipelineKind = 'full' | 'ci' | 'release';
/**
 * `manual`: started by hand through `POST /api/runs` (`slipway run`), as GitLab's "Run pipeline".
 * `config`: a config release, started by a change of an environment's config through the API
 * (`PUT /api/services/:service/environments/:env/config`): the live release again, with the new config.
 */
export type TriggerEvent = 'merge' | 'mr' | 'push' | 'tag' | 'manual' | 'config';

export interface ProjectRef {
  id: number;
  path: string;
  defaultBranch: string;
  webUrl: string | undefined;
}

export interface PipelineRequest {
  kind: PipelineKind;
  event: TriggerEvent;
  project: ProjectRef;
  sha: string;
  /** Branch or tag name, as GitLab sent it (attacker-controlled text: never put it in a shell). */
  ref: string;
  /** For pushes: the previous head, for diffs (all-zero when the branch is new). */
  before: string | undefined;
  mergeRequest: { iid: number; title: string; sourceBranch: string; targetBranch: string; fork: boolean } | undefined;
  /** Who caused it, for the record. */
  actor: string | undefined;
  /** GitLab's ref_protected when the event says (push hooks); else the default branch counts as protected. */
  refProtected?: boolean;
  /** Event `config` only: which environment's config changed, and the release it redeploys. */
  configRelease?: ConfigReleaseRequest;
}

/**
 * A config release: the release live in one environment, deployed again with the environment's
 * config at `revision`. No build, no tests: the image is the live one, the templates are those of
 * its commit (the request's `sha`).
 */
export interface ConfigReleaseRequest {
  service: string;
  environment: string;
  /** The environment config's revision whose change started this release. */
  revision: number;
  /** The run whose release was live when the config changed (its image is redeployed). */
  fromRun: string;
  /**
   * The creation time of the code run behind the live release: a config release takes that run's
   * place in newest-wins order, so a code pipeline created after it still deploys after it.
   */
  releaseCreatedAt: string;
  /** The live image, by digest. */
  image: { repository: string; digest: string; ref: string };
}

export interface Ignored {
  ignored: string;
}

export type TriggerDecision = PipelineRequest | Ignored;

export function isIgnored(d: TriggerDecision): d is Ignored {
  return 'ignored' in d;
}

/**
 * A merge request pipeline whose code comes from a fork (`source_project_id` ≠ `target_project_id`).
 * Its code is written by someone outside the project, so it gets no secret, no registry
 * credentials, no deploy and no host network (GitLab gives fork pipelines none of the project's
 * protected settings). Once merged, the code is the target branch's and is trusted like it.
 */
export function runsForkCode(req: { event: string; mergeRequest?: { fork: boolean } | undefined }): boolean {
  return req.event === 'mr' && req.mergeRequest?.fork === true;
}

/**
 * The ref a pipeline runs for, as GitLab names it: a merge request's pipeline runs for
 * refs/merge-requests/<iid>/head, not for its source branch, so it is a pipeline of its own beside
 * the branch's; a merge runs for its target branch (where the push it causes lands).
 */
export function pipelineRef(req: Pick<PipelineRequest, 'event' | 'ref' | 'mergeRequest'>): string {
  if (req.event === 'mr' && req.mergeRequest) return `refs/merge-requests/${req.mergeRequest.iid}/head`;
  if (req.event === 'tag') return `refs/tags/${req.ref}`;
  return `refs/heads/${req.ref}`;
}

/**
 * A pipeline's identity: project, SHA, kind and ref. Two events with one identity make one pipeline
 * (a merge and the push it causes; a merge request reopened at the same commit); the same SHA on
 * another branch, or in a merge request, is another pipeline, as in GitLab.
 */
export function triggerKey(req: PipelineRequest, kind: PipelineKind = req.kind): string {
  return `${req.project.id}:${req.sha}:${kind}:${pipelineRef(req)}`;
}
