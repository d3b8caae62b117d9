import { z } from 'zod';

// Only the response fields the client reads; everything else GitLab sends is ignored.

export const CurrentUser = z.object({ id: z.number().int() });

export const MergeRequestNote = z.object({
  id: z.number().int(),
  body: z.string(),
  system: z.boolean(),
  author: z.object({ id: z.number().int() }),
});
export type MergeRequestNote = z.infer<typeof MergeRequestNote>;

export const MergeRequestNotes = z.array(MergeRequestNote);

export const Member = z.object({ access_level: z.number().int() });

// GET /user: who a token belongs to (GitLab itself refuses the token of a blocked user).
export const TokenUser = z.object({ id: z.number().int(), username: z.string() });

// GET /user for signing in: doc/api/users.md sends `is_admin` only when the token's owner is an
// administrator ("for admins"), so an absent field means not one.
export const SignInUser = z.object({ id: z.number().int(), username: z.string(), name: z.string(), is_admin: z.boolean().optional() });

const UserBasic = z.object({ id: z.number().int(), username: z.string() });

export const MergeRequest = z.object({ iid: z.number().int(), author: UserBasic });

// A commit's times (doc/api/commits.md, "Get a single commit"; "Get single merge request commits"
// in doc/api/merge_requests.md answers the same entity): when it was written and when committed.
export const CommitDates = z.object({ id: z.string(), authored_date: z.string(), committed_date: z.string() });

// GET /projects/:id (doc/api/projects.md, "Get a single project").
export const Project = z.object({
  id: z.number().int(),
  path_with_namespace: z.string(),
  default_branch: z.string().nullable().optional(),
  web_url: z.string().nullable().optional(),
});
export type Project = z.infer<typeof Project>;

// GET /projects/:id/repository/branches (doc/api/branches.md, "List repository branches").
export const Branch = z.object({
  name: z.string(),
  default: z.boolean(),
  protected: z.boolean(),
  commit: z.object({ id: z.string(), committed_date: z.string() }),
});
export type Branch = z.infer<typeof Branch>;

// GET /projects/:id/merge_requests?state=merged (doc/api/merge_requests.md, "List project merge
// requests"). merge_commit_sha is null for fast-forward merges; sha is the source branch head.
export const MergedMergeRequest = z.object({
  iid: z.number().int(),
  title: z.string(),
  state: z.string(),
  source_branch: z.string(),
  target_branch: z.string(),
  source_project_id: z.number().int(),
  target_project_id: z.number().int(),
  sha: z.string().nullable(),
  merge_commit_sha: z.string().nullable(),
  merged_at: z.string().nullable(),
  updated_at: z.string(),
  merged_by: z.object({ username: z.string() }).nullable().optional(),
});
export type MergedMergeRequest = z.infer<typeof MergedMergeRequest>;

// GET /projects/:id/hooks (doc/api/project_webhooks.md, "List webhooks for a project").
// alert_status: executable | disabled | temporarily_disabled; disabled_until is set while
// temporarily disabled (GitLab 15.1+, older GitLab sends neither).
export const ProjectHook = z.object({
  id: z.number().int(),
  url: z.string(),
  alert_status: z.enum(['executable', 'disabled', 'temporarily_disabled']).optional(),
  disabled_until: z.string().nullable().optional(),
});
export type ProjectHook = z.infer<typeof ProjectHook>;

// POST /projects/:id/deployments and PUT /projects/:id/deployments/:deployment_id answer with
// Entities::Deployment (https://docs.gitlab.com/ee/api/deployments.html, "Create a deployment").
export const Deployment = z.object({
  id: z.number().int(),
  status: z.enum(['created', 'running', 'success', 'failed', 'canceled', 'blocked']),
  environment: z.object({ name: z.string() }),
});
