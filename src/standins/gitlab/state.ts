import type {
  CallMatch,
  CommitStatus,
  CommitStatusState,
  Deployment,
  DeploymentStatus,
  EnvironmentBasic,
  FakeProject,
  Member,
  MergeRequest,
  Note,
  ProjectHook,
  RecordedCall,
  UserBasic,
} from './types.js';

// In-memory GitLab: projects, commit statuses, MR notes, members (of projects and groups), users'
// personal access tokens, merge requests, the call log and injected faults.

export interface Fault {
  match: CallMatch;
  status: number;
  remaining: number;
  headers: Record<string, string>;
  // hang: accept the request and never answer (until close), to exercise client timeouts.
  hang: boolean;
}

export class FakeState {
  readonly projects = new Map<number, FakeProject>();
  // Live status records, as GitLab keeps them (a running status is updated in place when it finishes).
  readonly statusRecords: { projectId: number; status: CommitStatus }[] = [];
  // One snapshot per accepted POST, in arrival order: what tests assert on.
  readonly statusLog: { projectId: number; status: CommitStatus }[] = [];
  readonly notes: Note[] = [];
  readonly members = new Map<string, Member>();
  // "group path (lower case):user id" -> membership; groups that exist, by lower-case path.
  readonly groupMembers = new Map<string, Member>();
  readonly groups = new Set<string>();
  // Personal access tokens of users other than the bot: token -> user id.
  readonly userTokens = new Map<string, number>();
  // One record per merge request (project_id, iid): the list endpoint filters it, the single read finds in it.
  readonly mergeRequests: MergeRequest[] = [];
  readonly hooks: ProjectHook[] = [];
  readonly users = new Map<number, UserBasic>();
  // GitLab administrators among the users (GET /user adds is_admin for them).
  readonly admins = new Set<number>();
  readonly calls: RecordedCall[] = [];
  readonly faults: Fault[] = [];
  // Environments are created by name on their first deployment, as GitLab does for API deployments.
  readonly environments: { projectId: number; environment: EnvironmentBasic }[] = [];
  readonly deployments: { projectId: number; deployment: Deployment; history: DeploymentStatus[] }[] = [];
  readonly pipelines = new Map<string, number>(); // "projectId:sha:ref" -> pipeline id
  private nextId = 1000;

  constructor(
    readonly baseUrl: string,
    readonly currentUser: UserBasic,
  ) {
    this.users.set(currentUser.id, currentUser);
  }

  id(): number {
    this.nextId += 1;
    return this.nextId;
  }

  findProject(idOrPath: string): FakeProject | undefined {
    if (/^\d+$/.test(idOrPath)) return this.projects.get(Number(idOrPath));
    const wanted = idOrPath.toLowerCase();
    for (const p of this.projects.values()) if (p.pathWithNamespace.toLowerCase() === wanted) return p;
    return undefined;
  }

  user(id: number): UserBasic {
    const known = this.users.get(id);
    if (known) return known;
    const u: UserBasic = {
      id,
      username: `user${id}`,
      name: `User ${id}`,
      state: 'active',
      avatar_url: null,
      web_url: `${this.baseUrl}/user${id}`,
    };
    this.users.set(id, u);
    return u;
  }

  takeFault(method: string, path: string): Fault | undefined {
    const f = this.faults.find((x) => x.remaining > 0 && (!x.match.method || x.match.method.toUpperCase() === method) && path.includes(x.match.pathIncludes));
    if (f) f.remaining -= 1;
    return f;
  }

  pipelineId(projectId: number, sha: string, ref: string): number {
    const key = `${projectId}:${sha}:${ref}`;
    let id = this.pipelines.get(key);
    if (id === undefined) {
      id = this.id();
      this.pipelines.set(key, id);
    }
    return id;
  }
}

export interface StatusInput {
  state: CommitStatusState;
  name: string;
  ref: string;
  targetUrl: string | null;
  description: string | null;
  coverage: number | null;
  pipelineId: number;
}

// The state machine events GitLab fires per requested state (Ci::CreateCommitStatusService#apply_job_state!)
// and the states each may leave from (CommitStatus state_machine).
const EVENTS: Record<CommitStatusState, { event: string; from: readonly string[] }> = {
  pending: { event: 'enqueue', from: ['created'] },
  running: { event: 'run', from: ['created', 'pending'] },
  success: { event: 'success', from: ['created', 'pending', 'running'] },
  failed: { event: 'drop', from: ['created', 'pending', 'running'] },
  canceled: { event: 'cancel', from: ['created', 'pending', 'running'] },
  skipped: { event: 'skip', from: ['created'] },
};

// Applies a status post the way GitLab does: a running/pending status with the same sha, ref and name is
// moved along; otherwise a new one is created. Returns the status or the 400 message GitLab would send.
export function applyStatus(
  state: FakeState,
  projectId: number,
  sha: string,
  input: StatusInput,
): { ok: true; status: CommitStatus } | { ok: false; message: string } {
  const existing = state.statusRecords.find(
    ({ projectId: p, status: s }) =>
      p === projectId &&
      s.pipeline_id === input.pipelineId &&
      s.sha === sha &&
      s.ref === input.ref &&
      s.name === input.name &&
      (s.status === 'running' || s.status === 'pending'),
  );
  const from = existing?.status.status ?? 'created';
  const rule = EVENTS[input.state];
  if (!rule.from.includes(from)) {
    return {
      ok: false,
      message: `Cannot transition status via :${rule.event} from :${from} (Reason(s): Status cannot transition via "${rule.event}")`,
    };
  }
  const now = new Date().toISOString();
  const status: CommitStatus = existing?.status ?? {
    id: state.id(),
    sha,
    ref: input.ref,
    status: input.state,
    name: input.name,
    target_url: null,
    description: null,
    created_at: now,
    started_at: null,
    finished_at: null,
    allow_failure: false,
    coverage: null,
    pipeline_id: input.pipelineId,
    author: state.currentUser,
  };
  status.status = input.state;
  if (input.targetUrl !== null) status.target_url = input.targetUrl;
  if (input.description !== null) status.description = input.description;
  if (input.coverage !== null) status.coverage = input.coverage;
  if (input.state === 'running') status.started_at = now;
  if (['success', 'failed', 'canceled', 'skipped'].includes(input.state)) status.finished_at = now;
  if (!existing) state.statusRecords.push({ projectId, status });
  state.statusLog.push({ projectId, status: { ...status } });
  return { ok: true, status: { ...status } };
}
