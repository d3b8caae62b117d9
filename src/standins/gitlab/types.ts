// Shapes the fake returns, as GitLab API v4 serialises them (snake_case on the wire).

export type CommitStatusState = 'pending' | 'running' | 'success' | 'failed' | 'canceled' | 'skipped';

export interface UserBasic {
  id: number;
  username: string;
  name: string;
  state: 'active';
  avatar_url: string | null;
  web_url: string;
}

// Entities::CommitStatus
export interface CommitStatus {
  id: number;
  sha: string;
  ref: string | null;
  status: CommitStatusState;
  name: string;
  target_url: string | null;
  description: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  allow_failure: boolean;
  coverage: number | null;
  pipeline_id: number;
  author: UserBasic;
}

export type DeploymentStatus = 'created' | 'running' | 'success' | 'failed' | 'canceled' | 'blocked';

// Entities::EnvironmentBasic
export interface EnvironmentBasic {
  id: number;
  name: string;
  external_url: string | null;
}

// Entities::Deployment, as GitLab answers for one made through the API (no CI job behind it).
export interface Deployment {
  id: number;
  iid: number;
  ref: string;
  sha: string;
  created_at: string;
  updated_at: string;
  status: DeploymentStatus;
  user: UserBasic;
  environment: EnvironmentBasic;
  deployable: null;
}

// What a test sees: the deployment now, and every status it had in order (the first is the create's).
export interface DeploymentView extends Deployment {
  projectId: number;
  statusHistory: DeploymentStatus[];
}

// Entities::Note for a merge request
export interface Note {
  id: number;
  type: null;
  body: string;
  attachment: null;
  author: UserBasic;
  created_at: string;
  updated_at: string;
  system: boolean;
  noteable_id: number;
  noteable_type: 'MergeRequest';
  project_id: number;
  noteable_iid: number;
  resolvable: boolean;
  confidential: boolean;
  internal: boolean;
}

export interface Member extends UserBasic {
  access_level: number;
  created_at: string;
  expires_at: string | null;
  membership_state: 'active';
}

// Entities::UserPublic (GET /user for a user who is not an administrator), the fields GitLab
// always sends; the profile fields (bio, skype, ...) are left out.
export interface CurrentUser extends UserBasic {
  locked: boolean;
  created_at: string;
  bot: boolean;
  public_email: string | null;
  email: string;
  commit_email: string;
  last_sign_in_at: string | null;
  confirmed_at: string;
  last_activity_on: string | null;
  can_create_group: boolean;
  can_create_project: boolean;
  two_factor_enabled: boolean;
  external: boolean;
  private_profile: boolean;
  projects_limit: number;
  identities: never[];
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface RecordedCall {
  method: string;
  // Raw (still URL-encoded) path, e.g. /api/v4/projects/group%2Fproj/statuses/abc
  path: string;
  query: Record<string, string>;
  // Parsed JSON, form or multipart body; null when there was none.
  body: Record<string, string | JsonValue> | null;
  // null while the response has not finished (a hanging request).
  status: number | null;
  unexpected: boolean;
  // Date.now() when the request arrived: lets tests check backoff spacing.
  at: number;
}

export interface FakeProject {
  id: number;
  pathWithNamespace: string;
  defaultBranch: string;
  bareDir: string;
  // HTTP URL of the .git, as http_url_to_repo.
  cloneUrl: string;
  // public: anyone may clone over HTTP; private: git over HTTP needs the token (basic auth).
  visibility: 'public' | 'private';
}

export interface CallMatch {
  method?: string;
  pathIncludes: string;
}

// Entities::MergeRequestBasic (doc/api/merge_requests.md, "List project merge requests" and, for
// the fields Slipway reads, "Get single MR"): one record per merge request, served by both the list
// (the reconciler's merged ones) and the single read (the approval check's author).
export interface MergeRequest {
  id: number;
  iid: number;
  project_id: number;
  title: string;
  description: string;
  state: 'opened' | 'merged' | 'closed';
  created_at: string;
  updated_at: string;
  // null until merged (merged_by, merge_user likewise).
  merged_at: string | null;
  merged_by: UserBasic | null;
  merge_user: UserBasic | null;
  closed_at: null;
  closed_by: null;
  target_branch: string;
  source_branch: string;
  source_project_id: number;
  target_project_id: number;
  author: UserBasic;
  draft: boolean;
  // Head of the source branch.
  sha: string;
  merge_commit_sha: string | null;
  squash_commit_sha: string | null;
  squash: boolean;
  web_url: string;
  references: { short: string; relative: string; full: string };
}

// Entities::ProjectHook (doc/api/project_webhooks.md, "List webhooks for a project").
export interface ProjectHook {
  id: number;
  url: string;
  name: string;
  description: string;
  project_id: number;
  push_events: boolean;
  push_events_branch_filter: string;
  issues_events: boolean;
  confidential_issues_events: boolean;
  merge_requests_events: boolean;
  tag_push_events: boolean;
  note_events: boolean;
  confidential_note_events: boolean;
  job_events: boolean;
  pipeline_events: boolean;
  wiki_page_events: boolean;
  deployment_events: boolean;
  releases_events: boolean;
  enable_ssl_verification: boolean;
  repository_update_events: boolean;
  created_at: string;
  alert_status: 'executable' | 'disabled' | 'temporarily_disabled';
  disabled_until: string | null;
}
