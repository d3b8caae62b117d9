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

// Entities::MergeRequest, the fields a client reads to know who wrote a change.
export interface MergeRequest {
  id: number;
  iid: number;
  project_id: number;
  title: string;
  description: string;
  state: 'opened' | 'merged' | 'closed';
  created_at: string;
  updated_at: string;
  target_branch: string;
  source_branch: string;
  source_project_id: number;
  target_project_id: number;
  author: UserBasic;
  draft: boolean;
  merge_commit_sha: string | null;
  web_url: string;
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
}

export interface CallMatch {
  method?: string;
  pathIncludes: string;
}
