import type { z } from 'zod';
import { AttemptFailure, GitlabApiError } from './errors.js';
import { hiddenMarker, pickOwnNote } from './notes.js';
import type { GitlabResources } from './resources.js';
import { withRetry } from './retry.js';
import type { CallContext, RetryLogger, RetryPolicy } from './retry.js';
import {
  Branch,
  CommitDates,
  CurrentUser,
  Deployment,
  Member,
  MergedMergeRequest,
  MergeRequest,
  MergeRequestNotes as NotesSchema,
  Project,
  ProjectHook,
  SignInUser,
  TokenUser,
} from './schema.js';

export type { Branch, MergedMergeRequest, Project, ProjectHook } from './schema.js';

// Reads for the reconciler are bounded: a project with more branches or merges than this between
// two passes is read in part (the newest first for merge requests), never without end.
const MAX_PAGES = 5;
const PER_PAGE = 100;

export type CommitState = 'pending' | 'running' | 'success' | 'failed' | 'canceled';

// What GitLab's Environments page shows for a deployment Slipway made (the API accepts no `created`).
export type DeploymentState = 'running' | 'success' | 'failed' | 'canceled';

export interface DeploymentInput {
  environment: string;
  sha: string;
  // Branch or tag name (not refs/heads/…); `tag` says which.
  ref: string;
  tag: boolean;
  status: DeploymentState;
}

export interface CommitStatusInput {
  state: CommitState;
  name: string;
  ref?: string;
  targetUrl?: string;
  description?: string;
  coverage?: number;
}

// Every method may be called again with the same arguments (after a crash, a redelivered webhook):
// the second call leaves GitLab as the first one did. Failures throw GitlabApiError, whose
// `retryable` says whether a later retry can help; retries within the call have already happened.
export interface GitlabClient {
  // Re-posting the state a status already has is a success, not an error.
  setCommitStatus(projectId: number, sha: string, s: CommitStatusInput): Promise<void>;
  // Raw file at a commit; null = the file does not exist at that sha (a missing project or sha throws).
  readFile(projectId: number, path: string, sha: string): Promise<string | null>;
  // Raw file of a project named by path (group/project) at a ref (branch, tag or sha; undefined =
  // its default branch). null = the file or the ref does not exist; a missing project throws.
  // For `include: { project }` in pipeline files.
  readProjectFile(projectPath: string, path: string, ref: string | undefined): Promise<string | null>;
  // One updatable note per (MR, marker): ours is found by a hidden <!-- slipway:marker --> line and
  // author, then edited; created only when absent.
  upsertMergeRequestNote(projectId: number, iid: number, marker: string, body: string): Promise<{ noteId: number }>;
  // access_level including inherited and invited memberships (30 developer, 40 maintainer, 50 owner);
  // null = not a member.
  memberAccessLevel(projectId: number, userId: number): Promise<number | null>;
  // The project's id, path, default branch and web URL.
  getProject(projectId: number): Promise<Project>;
  // Branches with their head commits (at most 500).
  listBranches(projectId: number): Promise<Branch[]>;
  // Merge requests merged and updated at or after `updatedAfter` (ISO time), newest update first (at most 500).
  listMergedMergeRequests(projectId: number, updatedAfter: string): Promise<MergedMergeRequest[]>;
  // The project's webhooks with GitLab's own verdict on them (needs Maintainer).
  listHooks(projectId: number): Promise<ProjectHook[]>;
  // The same for a group named by path (team/release-managers), inherited memberships included;
  // null = not a member. A missing group throws (status 404).
  groupMemberAccessLevel(groupPath: string, userId: number): Promise<number | null>;
  // Who owns a personal access token (GET /user asked with that token, not ours): how a person
  // acting through Slipway's API is identified. A token GitLab refuses throws (status 401).
  // The token is sent only in the PRIVATE-TOKEN header and appears in no error or log.
  userOfToken(token: string): Promise<GitlabUser>;
  // The same for signing in to the web UI: with the display name and whether the owner is a GitLab
  // administrator. Same rules for the token (header only, never logged).
  signInUser(token: string): Promise<SignedInUser>;
  // The same for an OAuth access token of the person's (sent as Authorization: Bearer, never logged).
  signInUserOAuth(accessToken: string): Promise<SignedInUser>;
  // memberAccessLevel asked with the person's own OAuth access token (scope read_api) instead of
  // Slipway's: null also when GitLab does not show them the project (404), which is what a
  // non-member of a private project sees. A token GitLab no longer accepts throws (status 401).
  memberAccessLevelOAuth(accessToken: string, projectId: number, userId: number): Promise<number | null>;
  // When each commit of a merge request was authored and committed (its diff's commits, at most
  // 500); null = GitLab does not know the merge request. For DORA's lead time.
  mergeRequestCommitDates(projectId: number, iid: number): Promise<CommitTimes[] | null>;
  // The same for one commit; null = GitLab does not know the commit.
  commitDates(projectId: number, sha: string): Promise<CommitTimes | null>;
  // The author of a merge request; null = GitLab does not know the merge request.
  mergeRequestAuthor(projectId: number, iid: number): Promise<GitlabUser | null>;
  // A deployment in GitLab's Environments page (POST /projects/:id/deployments); GitLab creates the
  // environment by name on its first deployment. Not idempotent on GitLab's side: a POST that timed
  // out but landed and is retried leaves a second deployment (the caller records the id it gets and
  // creates only when it has none).
  createDeployment(projectId: number, d: DeploymentInput): Promise<{ deploymentId: number }>;
  // PUT /projects/:id/deployments/:deployment_id. Asking for the status it already has is a success.
  setDeploymentStatus(projectId: number, deploymentId: number, status: DeploymentState): Promise<void>;
  // The id of the user Slipway's own token belongs to (its notes are by them). Asked once per client.
  selfId(): Promise<number>;
}

export interface GitlabUser {
  id: number;
  username: string;
}

export interface CommitTimes {
  sha: string;
  authoredAt: string;
  committedAt: string;
}

export interface SignedInUser extends GitlabUser {
  name: string;
  isAdmin: boolean;
}

export type GitlabLogger = RetryLogger;

export interface GitlabClientOptions {
  url: string;
  token: string;
  // Per HTTP request, including reading the body. Default 10 s.
  timeoutMs?: number;
  // Retries after the first attempt. Default 3.
  retries?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  // Longest Retry-After the client sleeps through; longer ones fail retryable. Default 60 s.
  maxRetryAfterMs?: number;
  logger?: GitlabLogger;
}

export function createGitlabClient(opts: GitlabClientOptions): GitlabClient {
  // gitbeaker is loaded on the first call (resources.ts says why); a failed load is tried again.
  let loaded: Promise<GitlabResources> | undefined;
  const resources = (): Promise<GitlabResources> => {
    loaded ??= import('./resources.js')
      .then((m) => m.createResources({ url: opts.url, token: opts.token, timeoutMs: opts.timeoutMs ?? 10_000 }))
      .catch((err: unknown) => {
        loaded = undefined;
        throw err;
      });
    return loaded;
  };
  const policy: RetryPolicy = {
    retries: opts.retries ?? 3,
    baseDelayMs: opts.backoff?.baseMs ?? 500,
    maxDelayMs: opts.backoff?.maxMs ?? 10_000,
    maxRetryAfterMs: opts.maxRetryAfterMs ?? 60_000,
  };
  const run = <T>(ctx: CallContext, op: (r: GitlabResources) => Promise<T>): Promise<T> =>
    withRetry(ctx, policy, async () => op(await resources()), opts.logger);

  // Who the token belongs to: only notes by this user are ours to edit. Asked once per client.
  let selfId: Promise<number> | undefined;
  const currentUserId = (projectId: number): Promise<number> => {
    selfId ??= run({ call: 'get current user', projectId }, async (r) => {
      const user = parse(CurrentUser, await r.users.showCurrentUser(), 'get current user', projectId);
      return user.id;
    }).catch((err: unknown) => {
      selfId = undefined; // do not cache a failure
      throw err;
    });
    return selfId;
  };

  return {
    async setCommitStatus(projectId, sha, s) {
      const call = `set commit status ${s.name}`;
      // 409: GitLab holds a per-commit lock while it updates statuses; it asks to come back.
      await run({ call, projectId, retryableStatuses: [409] }, async (r) => {
        try {
          await r.commits.editStatus(projectId, sha, s.state, {
            name: s.name,
            ...(s.ref !== undefined ? { ref: s.ref } : {}),
            ...(s.targetUrl !== undefined ? { targetUrl: s.targetUrl } : {}),
            ...(s.description !== undefined ? { description: s.description } : {}),
            ...(s.coverage !== undefined ? { coverage: s.coverage } : {}),
          });
        } catch (err) {
          if (!alreadyInState(err, s.state)) throw err;
        }
      });
    },

    async readFile(projectId, path, sha) {
      return run({ call: 'read file', projectId }, async (r) => {
        try {
          const raw: unknown = await r.files.showRaw(projectId, path, sha);
          if (typeof raw === 'string') return raw;
          if (raw instanceof Blob) return raw.text();
          throw invalid('read file', projectId, `unexpected body type ${typeof raw}`);
        } catch (err) {
          // Only a missing file is an answer; a missing project or commit is a failure.
          if (err instanceof AttemptFailure && err.status === 404 && err.description === '404 File Not Found') return null;
          throw err;
        }
      });
    },

    async readProjectFile(projectPath, path, ref) {
      // Addressed by path, so there is no numeric id for the error record: 0, with the path in the call.
      const call = `read file of ${projectPath}`;
      return run({ call, projectId: 0 }, async (r) => {
        try {
          const raw: unknown = await r.files.showRaw(projectPath, path, ref ?? 'HEAD');
          if (typeof raw === 'string') return raw;
          if (raw instanceof Blob) return raw.text();
          throw invalid(call, 0, `unexpected body type ${typeof raw}`);
        } catch (err) {
          // A missing ref is the include's problem (wrong ref), like a missing file.
          if (err instanceof AttemptFailure && err.status === 404 && (err.description === '404 File Not Found' || err.description === '404 Commit Not Found'))
            return null;
          throw err;
        }
      });
    },

    selfId() {
      return currentUserId(0);
    },

    async upsertMergeRequestNote(projectId, iid, marker, body) {
      const tag = hiddenMarker(marker);
      const full = `${tag}\n${body}`;
      const me = await currentUserId(projectId);
      // The whole find-then-write is retried, so a POST that timed out but landed is found and
      // edited on the next attempt instead of being posted twice.
      return run({ call: 'upsert merge request note', projectId }, async (r) => {
        const all = parse(NotesSchema, await r.notes.all(projectId, iid, { perPage: 100 }), 'list notes', projectId);
        const ours = pickOwnNote(all, me, tag);
        if (!ours) {
          const created = await r.notes.create(projectId, iid, full);
          return { noteId: parse(NotesSchema.element, created, 'create note', projectId).id };
        }
        if (ours.body !== full) await r.notes.edit(projectId, iid, ours.id, { body: full });
        return { noteId: ours.id };
      });
    },

    async memberAccessLevel(projectId, userId) {
      return run({ call: 'get member access level', projectId }, async (r) => {
        try {
          const m = await r.members.show(projectId, userId, { includeInherited: true });
          return parse(Member, m, 'get member access level', projectId).access_level;
        } catch (err) {
          // "404 Not found" is GitLab's answer for a non-member; "404 Project Not Found" is not.
          if (err instanceof AttemptFailure && err.status === 404 && err.description === '404 Not found') return null;
          throw err;
        }
      });
    },

    async groupMemberAccessLevel(groupPath, userId) {
      const call = `get member access level in group ${groupPath}`;
      return run({ call, projectId: 0 }, async (r) => {
        try {
          const m = await r.groupMembers.show(groupPath, userId, { includeInherited: true });
          return parse(Member, m, call, 0).access_level;
        } catch (err) {
          if (err instanceof AttemptFailure && err.status === 404 && err.description === '404 Not found') return null;
          throw err;
        }
      });
    },

    async userOfToken(token) {
      return run({ call: 'get the user of a token', projectId: 0 }, async (r) => {
        const u = parse(TokenUser, await r.usersAs(token).showCurrentUser(), 'get the user of a token', 0);
        return { id: u.id, username: u.username };
      });
    },

    async signInUser(token) {
      return run({ call: 'get the user of a token', projectId: 0 }, async (r) => {
        const u = parse(SignInUser, await r.usersAs(token).showCurrentUser(), 'get the user of a token', 0);
        return { id: u.id, username: u.username, name: u.name, isAdmin: u.is_admin === true };
      });
    },

    async signInUserOAuth(accessToken) {
      return run({ call: 'get the user of an OAuth token', projectId: 0 }, async (r) => {
        const u = parse(SignInUser, await r.usersAsOAuth(accessToken).showCurrentUser(), 'get the user of an OAuth token', 0);
        return { id: u.id, username: u.username, name: u.name, isAdmin: u.is_admin === true };
      });
    },

    async memberAccessLevelOAuth(accessToken, projectId, userId) {
      return run({ call: 'get member access level with an OAuth token', projectId }, async (r) => {
        try {
          const m = await r.membersAsOAuth(accessToken).show(projectId, userId, { includeInherited: true });
          return parse(Member, m, 'get member access level with an OAuth token', projectId).access_level;
        } catch (err) {
          if (err instanceof AttemptFailure && err.status === 404) return null;
          throw err;
        }
      });
    },

    async mergeRequestCommitDates(projectId, iid) {
      return run({ call: 'list merge request commits', projectId }, async (r) => {
        try {
          const list = parse(
            CommitDates.array(),
            await r.mergeRequests.allCommits(projectId, iid, { perPage: PER_PAGE, maxPages: MAX_PAGES }),
            'list merge request commits',
            projectId,
          );
          return list.map(timesOf);
        } catch (err) {
          if (err instanceof AttemptFailure && err.status === 404) return null;
          throw err;
        }
      });
    },

    async commitDates(projectId, sha) {
      return run({ call: 'get commit', projectId }, async (r) => {
        try {
          return timesOf(parse(CommitDates, await r.commits.show(projectId, sha), 'get commit', projectId));
        } catch (err) {
          if (err instanceof AttemptFailure && err.status === 404) return null;
          throw err;
        }
      });
    },

    async mergeRequestAuthor(projectId, iid) {
      return run({ call: 'get merge request', projectId }, async (r) => {
        try {
          const mr = parse(MergeRequest, await r.mergeRequests.show(projectId, iid), 'get merge request', projectId);
          return { id: mr.author.id, username: mr.author.username };
        } catch (err) {
          if (err instanceof AttemptFailure && err.status === 404 && err.description === '404 Not found') return null;
          throw err;
        }
      });
    },

    // https://docs.gitlab.com/ee/api/deployments.html, "Create a deployment": environment, sha, ref,
    // tag and status are all required; the answer is the deployment (id, iid, status, environment, …).
    async createDeployment(projectId, d) {
      const call = `create deployment for ${d.environment}`;
      return run({ call, projectId }, async (r) => {
        const created = await r.deployments.create(projectId, d.environment, d.sha, d.ref, d.tag, { status: d.status });
        return { deploymentId: parse(Deployment, created, call, projectId).id };
      });
    },

    // https://docs.gitlab.com/ee/api/deployments.html, "Update a deployment". GitLab's state machine
    // refuses a transition to the state a deployment is in with a 400; the deployment is read back
    // then, and already being there is the answer we wanted (a retried PUT that had landed).
    async setDeploymentStatus(projectId, deploymentId, status) {
      const call = `set deployment ${deploymentId} ${status}`;
      await run({ call, projectId }, async (r) => {
        try {
          await r.deployments.edit(projectId, deploymentId, status);
        } catch (err) {
          if (!(err instanceof AttemptFailure) || err.status !== 400) throw err;
          const now = parse(Deployment, await r.deployments.show(projectId, deploymentId), call, projectId);
          if (now.status !== status) throw err;
        }
      });
    },

    async getProject(projectId) {
      return run({ call: 'get project', projectId }, async (r) => parse(Project, await r.projects.show(projectId), 'get project', projectId));
    },

    async listBranches(projectId) {
      return run({ call: 'list branches', projectId }, async (r) =>
        parse(Branch.array(), await r.branches.all(projectId, { perPage: PER_PAGE, maxPages: MAX_PAGES }), 'list branches', projectId),
      );
    },

    async listMergedMergeRequests(projectId, updatedAfter) {
      return run({ call: 'list merged merge requests', projectId }, async (r) =>
        parse(
          MergedMergeRequest.array(),
          await r.mergeRequests.all({
            projectId,
            state: 'merged',
            updatedAfter,
            orderBy: 'updated_at',
            sort: 'desc',
            perPage: PER_PAGE,
            maxPages: MAX_PAGES,
          }),
          'list merged merge requests',
          projectId,
        ),
      );
    },

    async listHooks(projectId) {
      return run({ call: 'list hooks', projectId }, async (r) =>
        parse(ProjectHook.array(), await r.hooks.all(projectId, { perPage: PER_PAGE, maxPages: MAX_PAGES }), 'list hooks', projectId),
      );
    },
  };
}

// Real GitLab answers a repeated pending or running post with
// 400 "Cannot transition status via :run from :running": the status already is what we asked for.
function alreadyInState(err: unknown, wanted: CommitState): boolean {
  if (!(err instanceof AttemptFailure) || err.status !== 400) return false;
  const from = /^Cannot transition status via :\w+ from :(\w+)/.exec(err.description)?.[1];
  return from === wanted;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, call: string, projectId: number): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(call, projectId, r.error.issues[0]?.message ?? 'schema mismatch');
  return r.data;
}

function invalid(call: string, projectId: number, detail: string): GitlabApiError {
  return new GitlabApiError({ call, projectId, kind: 'invalid-response', status: null, retryable: false, attempts: 1, detail });
}

function timesOf(c: z.infer<typeof CommitDates>): CommitTimes {
  return { sha: c.id, authoredAt: c.authored_date, committedAt: c.committed_date };
}
