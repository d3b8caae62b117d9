import { z } from 'zod';

/**
 * GitLab webhook payloads, one schema per X-Gitlab-Event, holding only the fields Slipway reads
 * (webhook_events.md). Everything else in the body is ignored, so new GitLab fields never break us.
 */
const projectSchema = z.object({
  id: z.number().int(),
  path_with_namespace: z.string().min(1),
  default_branch: z.string().nullish(),
  web_url: z.string().nullish(),
});

const sha = z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-character hex SHA');

export const pushHookSchema = z.object({
  object_kind: z.literal('push'),
  before: sha,
  after: sha,
  ref: z.string().min(1),
  ref_protected: z.boolean().nullish(),
  checkout_sha: sha.nullish(),
  user_username: z.string().nullish(),
  project: projectSchema,
  commits: z.array(z.object({ id: z.string(), message: z.string().nullish() })).default([]),
  total_commits_count: z.number().int().nullish(),
});

export const tagPushHookSchema = pushHookSchema.extend({ object_kind: z.literal('tag_push') });

export const mergeRequestHookSchema = z.object({
  object_kind: z.literal('merge_request'),
  user: z.object({ id: z.number().int().nullish(), username: z.string().nullish() }).nullish(),
  project: projectSchema,
  object_attributes: z.object({
    iid: z.number().int(),
    action: z.string().nullish(),
    state: z.string(),
    title: z.string().nullish(),
    source_branch: z.string().min(1),
    target_branch: z.string().min(1),
    source_project_id: z.number().int(),
    target_project_id: z.number().int(),
    merge_commit_sha: sha.nullish(),
    oldrev: sha.nullish(),
    last_commit: z.object({ id: sha, message: z.string().nullish() }).nullish(),
  }),
});

export const noteHookSchema = z.object({
  object_kind: z.literal('note'),
  // The comment's author: GitLab's word (the delivery carries the hook's secret), so commands act for them.
  user: z.object({ id: z.number().int(), username: z.string().min(1) }).nullish(),
  project: projectSchema,
  object_attributes: z.object({
    noteable_type: z.string(),
    note: z.string(),
    system: z.boolean().nullish(),
    // create or update (an edited comment); older GitLab sends none.
    action: z.string().nullish(),
  }),
  merge_request: z.object({ iid: z.number().int() }).nullish(),
});

export type PushHook = z.infer<typeof pushHookSchema>;
export type TagPushHook = z.infer<typeof tagPushHookSchema>;
export type MergeRequestHook = z.infer<typeof mergeRequestHookSchema>;
export type NoteHook = z.infer<typeof noteHookSchema>;

export const HANDLED_EVENTS = ['Push Hook', 'Tag Push Hook', 'Merge Request Hook', 'Note Hook'] as const;
export type HandledEventName = (typeof HANDLED_EVENTS)[number];

export type GitlabEvent =
  | { name: 'Push Hook'; payload: PushHook }
  | { name: 'Tag Push Hook'; payload: TagPushHook }
  | { name: 'Merge Request Hook'; payload: MergeRequestHook }
  | { name: 'Note Hook'; payload: NoteHook };

export type ParsedEvent = { ok: true; event: GitlabEvent } | { ok: false; unknownEvent: string } | { ok: false; invalid: string };

const schemas = {
  'Push Hook': pushHookSchema,
  'Tag Push Hook': tagPushHookSchema,
  'Merge Request Hook': mergeRequestHookSchema,
  'Note Hook': noteHookSchema,
} as const;

function isHandled(name: string): name is HandledEventName {
  return (HANDLED_EVENTS as readonly string[]).includes(name);
}

/** Narrow a JSON body by its X-Gitlab-Event header. */
export function parseEvent(eventName: string, body: unknown): ParsedEvent {
  if (!isHandled(eventName)) return { ok: false, unknownEvent: eventName };
  const result = schemas[eventName].safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'body';
    return { ok: false, invalid: `${eventName} payload: ${where}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, event: { name: eventName, payload: result.data } as GitlabEvent };
}
