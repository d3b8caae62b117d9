/** What an event asks for. `full` = test, image, deploy to pre; `ci` = tests only; `release` = tag. */
export type PipelineKind = 'full' | 'ci' | 'release';
export type TriggerEvent = 'merge' | 'mr' | 'push' | 'tag';

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
}

export interface Ignored {
  ignored: string;
}

export type TriggerDecision = PipelineRequest | Ignored;

export function isIgnored(d: TriggerDecision): d is Ignored {
  return 'ignored' in d;
}

/** Two events for one project, SHA and kind make one pipeline (a merge and the push it causes). */
export function triggerKey(req: PipelineRequest): string {
  return `${req.project.id}:${req.sha}:${req.kind}`;
}
