import type { GitlabEvent, MergeRequestHook, PushHook, TagPushHook } from '../webhooks/events.js';
import { triggerKey, type Ignored, type PipelineRequest, type ProjectRef, type TriggerDecision } from './types.js';

const ZERO_SHA = '0000000000000000000000000000000000000000';

function projectOf(p: {
  id: number;
  path_with_namespace: string;
  default_branch?: string | null | undefined;
  web_url?: string | null | undefined;
}): ProjectRef {
  return { id: p.id, path: p.path_with_namespace, defaultBranch: p.default_branch ?? 'main', webUrl: p.web_url ?? undefined };
}

const ignore = (reason: string): Ignored => ({ ignored: reason });

function fromPush(p: PushHook): TriggerDecision {
  if (!p.ref.startsWith('refs/heads/')) return ignore(`push to ${p.ref} is not a branch`);
  if (p.after === ZERO_SHA || !p.checkout_sha) return ignore('branch deleted');
  return {
    kind: 'ci',
    event: 'push',
    project: projectOf(p.project),
    sha: p.checkout_sha,
    ref: p.ref.slice('refs/heads/'.length),
    before: p.before,
    mergeRequest: undefined,
    actor: p.user_username ?? undefined,
    ...(typeof p.ref_protected === 'boolean' ? { refProtected: p.ref_protected } : {}),
  };
}

function fromTag(p: TagPushHook): TriggerDecision {
  if (p.after === ZERO_SHA || !p.checkout_sha) return ignore('tag deleted');
  return {
    kind: 'release',
    event: 'tag',
    project: projectOf(p.project),
    sha: p.checkout_sha,
    ref: p.ref.replace(/^refs\/tags\//, ''),
    before: undefined,
    mergeRequest: undefined,
    actor: p.user_username ?? undefined,
    ...(typeof p.ref_protected === 'boolean' ? { refProtected: p.ref_protected } : {}),
  };
}

function fromMergeRequest(p: MergeRequestHook): TriggerDecision {
  const a = p.object_attributes;
  const mergeRequest = {
    iid: a.iid,
    title: a.title ?? '',
    sourceBranch: a.source_branch,
    targetBranch: a.target_branch,
    fork: a.source_project_id !== a.target_project_id,
  };
  const base = { project: projectOf(p.project), before: undefined, mergeRequest, actor: p.user?.username ?? undefined };
  switch (a.action) {
    case 'merge': {
      if (a.state !== 'merged') return ignore(`merge action but state is ${a.state}`);
      // Fast-forward merges have no merge commit: the target branch head is the MR's last commit.
      const sha = a.merge_commit_sha ?? a.last_commit?.id;
      if (!sha) return ignore('merged merge request carries no commit SHA');
      return { ...base, kind: 'full', event: 'merge', sha, ref: a.target_branch };
    }
    case 'open':
    case 'reopen':
    case 'update': {
      if (a.action === 'update' && !a.oldrev) return ignore('merge request update without new commits (metadata only)');
      if (!a.last_commit) return ignore('merge request carries no last commit');
      return { ...base, kind: 'ci', event: 'mr', sha: a.last_commit.id, ref: a.source_branch };
    }
    default:
      return ignore(`merge request action '${a.action ?? 'none'}' does not start a pipeline`);
  }
}

/** Pure: one GitLab event in, a pipeline request or an ignore reason out. */
export function classify(event: GitlabEvent): TriggerDecision {
  switch (event.name) {
    case 'Push Hook':
      return fromPush(event.payload);
    case 'Tag Push Hook':
      return fromTag(event.payload);
    case 'Merge Request Hook':
      return fromMergeRequest(event.payload);
    case 'Note Hook':
      if (event.payload.object_attributes.system) return ignore('system note');
      return ignore('comments do not start pipelines (commands in merge-request comments are carried out beside runs)');
  }
}

/**
 * The trigger keys of the pipelines that would cover this request: its own, and for CI requests
 * the full pipeline of the same SHA and ref (the push a merge causes joins the merge's pipeline).
 */
export function coveringTriggerKeys(req: PipelineRequest): string[] {
  const kinds: PipelineRequest['kind'][] = req.kind === 'ci' ? ['ci', 'full'] : [req.kind];
  return kinds.map((kind) => triggerKey(req, kind));
}
