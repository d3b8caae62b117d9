/*
 * A fake GitLab for tests: speaks GitLab API v4 and git smart HTTP on 127.0.0.1 (random port), over
 * real bare git repositories, so Slipway's GitLab client and clone code run unchanged against it.
 *
 * Wire shapes follow GitLab's API docs:
 *  - doc/api/commits.md, "Set the pipeline status of a commit" and "List the statuses of a commit"
 *    (201 + Entities::CommitStatus; a running/pending status with the same sha/ref/name moves along,
 *    re-posting its own state is a 400 "Cannot transition status via :run from :running")
 *  - doc/api/notes.md, merge request notes (list newest first, paginated; create 201; update 200)
 *  - doc/api/repository_files.md, "Get raw file from repository" (404 {"message":"404 File Not Found"})
 *  - doc/api/members.md, "Get a member of a group or project, including inherited and invited members"
 *    (project and group; 404 {"message":"404 Not found"} for a non-member)
 *  - doc/api/users.md, "Get the current user" (GET /user, for the bot's token or a user's own)
 *  - doc/api/merge_requests.md, "Get single MR"
 *  - doc/api/deployments.md, "Create a deployment", "Update a deployment", "Get a specific deployment"
 *    (deployments.ts: environments created by name, the deployment state machine)
 *  - doc/api/branches.md "List repository branches", doc/api/merge_requests.md "List project merge
 *    requests" (state, updated_after, order_by, sort), doc/api/project_webhooks.md "List webhooks for
 *    a project" (alert_status executable | disabled | temporarily_disabled, disabled_until)
 *  - doc/api/oauth2.md (oauth-provider.ts): the authorization code flow with PKCE, refresh tokens,
 *    and OAuth access tokens as Authorization: Bearer on /api/v4 (GET /user and member reads)
 *  - doc/api/rest/index.md, authentication (PRIVATE-TOKEN or Authorization: Bearer; 401
 *    {"message":"401 Unauthorized"}), status codes, namespaced path encoding (group%2Fproject) and
 *    offset pagination headers (X-Total, X-Next-Page, Link).
 * Grape validation errors come back as {"error": "..."}, application errors as {"message": "..."}.
 * Anything the fake does not know answers 404 and is recorded as an unexpected call, so a test can
 * fail on requests nobody planned for (as Renovate's HTTP mock does).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { readBody } from './body.js';
import { gitOk } from './git.js';
import { parseGitPath, runHttpBackend } from './http-backend.js';
import { FakeOAuth, invalidTokenBody, type IssuedToken, oauthRouter } from './oauth-provider.js';
import { addNote, apiRouter } from './routes.js';
import { FakeState } from './state.js';
import type { CallMatch, CommitStatus, DeploymentView, FakeProject, MergeRequest, Note, ProjectHook, RecordedCall, UserBasic } from './types.js';

export type { IssuedToken } from './oauth-provider.js';
export type { CallMatch, CommitStatus, DeploymentView, FakeProject, MergeRequest, Note, ProjectHook, RecordedCall, UserBasic } from './types.js';

export interface FakeGitlab {
  url: string; // http://127.0.0.1:PORT
  token: string;
  // The user the token belongs to (author of statuses and notes the client creates).
  currentUser: UserBasic;
  // visibility defaults to public (anonymous clones work); a private project refuses anonymous git
  // over HTTP with GitLab's basic-auth challenge.
  addProject(p: { id: number; pathWithNamespace: string; defaultBranch?: string; visibility?: 'public' | 'private' }): Promise<FakeProject>;
  // Called with the path of each git request just before it is answered. The client's git
  // processes are alive then (they wait for the answer), so a test can look at them.
  onGitRequest(observer: (path: string) => void): void;
  calls: RecordedCall[];
  unexpectedCalls(): RecordedCall[];
  // Accepted status posts, in order received.
  statuses(projectId: number, sha?: string): CommitStatus[];
  // Deployments made through the API, oldest first, each with the statuses it went through.
  deployments(projectId: number, environment?: string): DeploymentView[];
  notes(projectId: number, iid: number): Note[];
  // A note written by someone else (e.g. a reviewer quoting our marker).
  seedNote(projectId: number, iid: number, body: string, authorId: number): Note;
  setMember(projectId: number, userId: number, accessLevel: number): void;
  // A person with a personal access token of their own (for GET /user). Their token may call
  // nothing else here: any other call with it is answered 403 and flagged unexpected, so a test
  // sees a person's token used where Slipway's own belongs.
  // `admin: true`: a GitLab administrator, whose GET /user carries `is_admin: true` (doc/api/users.md,
  // "for admins"; for other users the field is absent).
  addUser(u: { id: number; username: string; name?: string; admin?: boolean }): { user: UserBasic; token: string };
  // A member of a group (created on first use), by path (team/release-managers).
  setGroupMember(groupPath: string, userId: number, accessLevel: number): void;
  // An open merge request by that author (GET /projects/:id/merge_requests/:iid). Adding a merge
  // request (open or merged) with an iid the project already has replaces the earlier one.
  addMergeRequest(
    projectId: number,
    mr: { iid: number; authorId: number; title?: string; sourceBranch?: string; targetBranch?: string; sha?: string },
  ): MergeRequest;
  // A merge request that is merged (the fake does not merge: the test moves the target branch itself).
  // mergeCommitSha null = a fast-forward merge.
  addMergedMergeRequest(
    projectId: number,
    mr: { iid: number; sourceBranch: string; targetBranch?: string; sha: string; mergeCommitSha: string | null; title?: string; mergedAt?: string },
  ): MergeRequest;
  // A project webhook; alertStatus as GitLab's auto-disabling sets it (executable by default).
  addHook(projectId: number, hook: { url: string; alertStatus?: ProjectHook['alert_status']; disabledUntil?: string | null }): ProjectHook;
  // Fault injection before auth, like a proxy or rate limiter in front of GitLab. 429 carries
  // Retry-After (default 1 s, override through opts.headers).
  failNext(match: CallMatch, status: number, times?: number, opts?: { headers?: Record<string, string> }): void;
  // The matching requests get no answer at all until close(): for client timeouts.
  hangNext(match: CallMatch, times?: number): void;
  // An OAuth application (doc/api/oauth2.md) with its redirect URI and scopes (default read_api).
  addOAuthApplication(a: { redirectUri: string; scopes?: string[] }): { clientId: string; secret: string };
  // Who is signed in to GitLab in the browser: /oauth/authorize approves for them at once (null: nobody).
  oauthSignIn(userId: number | null): void;
  // They click Deny: /oauth/authorize redirects back with error=access_denied.
  oauthDeny(deny: boolean): void;
  // expires_in of access tokens issued from now on (GitLab: 7200 s).
  oauthTokenLifetime(seconds: number): void;
  // Every OAuth token issued, oldest first (with whether it was revoked).
  oauthTokens(): IssuedToken[];
  // Revokes a user's OAuth tokens, as removing the application under their Applications page does.
  revokeOAuthTokens(userId: number): void;
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export async function startFakeGitlab(opts: { token?: string } = {}): Promise<FakeGitlab> {
  const token = opts.token ?? 'glpat-fake-slipway-token';
  const root = await mkdtemp(join(tmpdir(), 'slipway-fake-gitlab-'));
  const reposDir = join(root, 'repos');
  await mkdir(reposDir);

  const app = express();
  app.disable('x-powered-by');
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state = new FakeState(url, {
    id: 1,
    username: 'slipway-bot',
    name: 'Slipway Bot',
    state: 'active',
    avatar_url: null,
    web_url: `${url}/slipway-bot`,
  });

  const recordOf = (res: Response): RecordedCall => res.locals['call'] as RecordedCall;
  const oauth = new FakeOAuth();

  // One record per (project, iid): a merge request added again (opened, then merged) replaces the earlier one.
  const putMergeRequest = (p: FakeProject, mr: Omit<MergeRequest, 'web_url' | 'references'>): MergeRequest => {
    const full: MergeRequest = {
      ...mr,
      web_url: `${url}/${p.pathWithNamespace}/-/merge_requests/${mr.iid}`,
      references: { short: `!${mr.iid}`, relative: `!${mr.iid}`, full: `${p.pathWithNamespace}!${mr.iid}` },
    };
    const at = state.mergeRequests.findIndex((m) => m.project_id === mr.project_id && m.iid === mr.iid);
    if (at >= 0) state.mergeRequests[at] = full;
    else state.mergeRequests.push(full);
    return full;
  };

  app.use((req, res, next) => {
    const q: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(req.originalUrl.split('?')[1] ?? '')) q[k] = v;
    const call: RecordedCall = {
      method: req.method,
      path: req.originalUrl.split('?')[0] ?? '',
      query: q,
      body: null,
      status: null,
      unexpected: false,
      at: Date.now(),
    };
    state.calls.push(call);
    res.locals['call'] = call;
    res.on('finish', () => {
      call.status = res.statusCode;
    });
    next();
  });

  const unexpected = (res: Response, status = 404, body: object = { error: '404 Not Found' }): void => {
    recordOf(res).unexpected = true;
    res.status(status).json(body);
  };

  // Git smart HTTP (read-only). Basic auth with the token as password and any user name (GitLab's
  // docs use oauth2), as GitLab accepts a personal access token there; anonymous only for public
  // projects. A refusal is GitLab's: 401 with a Basic challenge for realm "GitLab".
  const gitObservers: Array<(path: string) => void> = [];
  const denied = (res: Response): void => {
    res.status(401).set('WWW-Authenticate', 'Basic realm="GitLab"').send('HTTP Basic: Access denied\n');
  };
  app.use((req, res, next) => {
    const git = parseGitPath(req.path);
    if (!git) {
      next();
      return;
    }
    for (const observe of gitObservers) observe(req.path);
    const auth = req.get('authorization');
    if (auth !== undefined) {
      const m = /^Basic (.+)$/i.exec(auth);
      const password = m?.[1] ? Buffer.from(m[1], 'base64').toString('utf8').split(':').slice(1).join(':') : '';
      if (password !== token) {
        denied(res);
        return;
      }
    }
    const project = state.findProject(decodeURIComponent(git.repoPath));
    if (project?.visibility === 'private' && auth === undefined) {
      denied(res);
      return;
    }
    const service = typeof req.query['service'] === 'string' ? req.query['service'] : undefined;
    if (!project || (git.action === 'info/refs' && service !== 'git-upload-pack')) {
      unexpected(res);
      return;
    }
    runHttpBackend(req, res, reposDir, `/${project.pathWithNamespace}.git/${git.action}`);
  });

  // OAuth: faults (failNext matches /oauth/token too), then the provider.
  app.use(['/api/v4', '/oauth'], (req, res, next) => {
    const fault = state.takeFault(req.method, req.originalUrl);
    if (!fault) {
      next();
      return;
    }
    if (fault.hang) return; // never answered; close() drops the socket
    res.status(fault.status).set(fault.headers);
    if (fault.status === 429) res.type('text/plain').send('Retry later\n');
    else res.json({ message: `${fault.status} ${statusText(fault.status)}` });
  });
  app.use('/oauth', oauthRouter(oauth, unexpected));
  // API: auth, then the body, then the routes.
  app.use('/api/v4', (req, res, next) => {
    const bearer = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const given = req.get('private-token') ?? bearer;
    const userId = given === undefined ? undefined : state.userTokens.get(given);
    const viaOAuth = bearer === undefined ? undefined : oauth.bearer(bearer);
    if (viaOAuth === 'expired' || viaOAuth === 'revoked') {
      res.status(401).json(invalidTokenBody(viaOAuth));
      return;
    }
    if (viaOAuth !== undefined) {
      // A person's OAuth token: who they are (read_user and up) and member reads (read_api and up).
      const member = /^\/projects\/[^/]+\/members\/all\/\d+$/.test(req.path);
      const scoped = req.path === '/user' ? ['read_user', 'read_api', 'api'] : member ? ['read_api', 'api'] : [];
      if (req.method !== 'GET' || !viaOAuth.scopes.some((sc) => scoped.includes(sc))) {
        unexpected(res, 403, { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.' });
        return;
      }
      res.locals['caller'] = state.user(viaOAuth.userId);
    } else if (userId !== undefined) {
      if (req.method !== 'GET' || req.path !== '/user') {
        unexpected(res, 403, { message: '403 Forbidden' });
        return;
      }
      res.locals['caller'] = state.user(userId);
    } else if (given !== token) {
      res.status(401).json({ message: '401 Unauthorized' });
      return;
    }
    next();
  });
  app.use('/api/v4', (req, res, next) => {
    readBody(req).then(
      (body) => {
        res.locals['body'] = body;
        recordOf(res).body = body;
        next();
      },
      (err: unknown) => {
        res.status(400).json({ error: `body is invalid: ${err instanceof Error ? err.message : String(err)}` });
      },
    );
  });
  app.use('/api/v4', apiRouter(state));
  app.use((_req, res) => unexpected(res));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // A bug in the fake must be loud: 500 with the reason, and the call flagged.
    recordOf(res).unexpected = true;
    res.status(500).json({ message: `500 fake GitLab error: ${err instanceof Error ? err.message : String(err)}` });
  });

  return {
    url,
    token,
    currentUser: state.currentUser,
    calls: state.calls,
    async addProject(p) {
      const segments = p.pathWithNamespace.split('/');
      if (segments.length < 2 || !segments.every((s) => SEGMENT.test(s) && !s.endsWith('.git'))) {
        throw new Error(`invalid project path: ${p.pathWithNamespace}`);
      }
      if (state.projects.has(p.id) || state.findProject(p.pathWithNamespace)) {
        throw new Error(`project already exists: ${p.id} ${p.pathWithNamespace}`);
      }
      const defaultBranch = p.defaultBranch ?? 'main';
      const bareDir = join(reposDir, `${p.pathWithNamespace}.git`);
      await mkdir(bareDir, { recursive: true });
      await gitOk(['init', '--quiet', '--bare', `--initial-branch=${defaultBranch}`, bareDir]);
      const project: FakeProject = {
        id: p.id,
        pathWithNamespace: p.pathWithNamespace,
        defaultBranch,
        bareDir,
        cloneUrl: `${url}/${p.pathWithNamespace}.git`,
        visibility: p.visibility ?? 'public',
      };
      state.projects.set(p.id, project);
      return project;
    },
    onGitRequest(observer) {
      gitObservers.push(observer);
    },
    unexpectedCalls: () => state.calls.filter((c) => c.unexpected),
    statuses: (projectId, sha) => state.statusLog.filter((s) => s.projectId === projectId && (sha === undefined || s.status.sha === sha)).map((s) => s.status),
    deployments: (projectId, environment) =>
      state.deployments
        .filter((d) => d.projectId === projectId && (environment === undefined || d.deployment.environment.name === environment))
        .map((d) => ({ ...d.deployment, projectId, statusHistory: [...d.history] })),
    notes: (projectId, iid) => state.notes.filter((n) => n.project_id === projectId && n.noteable_iid === iid),
    seedNote: (projectId, iid, body, authorId) => addNote(state, projectId, iid, body, authorId),
    setMember(projectId, userId, accessLevel) {
      state.members.set(`${projectId}:${userId}`, {
        ...state.user(userId),
        access_level: accessLevel,
        created_at: new Date().toISOString(),
        expires_at: null,
        membership_state: 'active',
      });
    },
    addUser(u) {
      const user: UserBasic = {
        id: u.id,
        username: u.username,
        name: u.name ?? u.username,
        state: 'active',
        avatar_url: null,
        web_url: `${url}/${u.username}`,
      };
      state.users.set(u.id, user);
      if (u.admin === true) state.admins.add(u.id);
      else state.admins.delete(u.id);
      const userToken = `glpat-${u.username}-${randomBytes(8).toString('hex')}`;
      state.userTokens.set(userToken, u.id);
      return { user, token: userToken };
    },
    setGroupMember(groupPath, userId, accessLevel) {
      const group = groupPath.toLowerCase();
      state.groups.add(group);
      state.groupMembers.set(`${group}:${userId}`, {
        ...state.user(userId),
        access_level: accessLevel,
        created_at: new Date().toISOString(),
        expires_at: null,
        membership_state: 'active',
      });
    },
    addMergeRequest(projectId, m) {
      const p = state.projects.get(projectId);
      if (!p) throw new Error(`no project ${projectId}`);
      const now = new Date().toISOString();
      // The fake does not read the source branch: a test that needs the head passes sha.
      return putMergeRequest(p, {
        id: state.id(),
        iid: m.iid,
        project_id: projectId,
        title: m.title ?? `Merge request ${m.iid}`,
        description: '',
        state: 'opened',
        created_at: now,
        updated_at: now,
        merged_at: null,
        merged_by: null,
        merge_user: null,
        closed_at: null,
        closed_by: null,
        target_branch: m.targetBranch ?? p.defaultBranch,
        source_branch: m.sourceBranch ?? 'feature',
        source_project_id: projectId,
        target_project_id: projectId,
        author: state.user(m.authorId),
        draft: false,
        sha: m.sha ?? '0'.repeat(40),
        merge_commit_sha: null,
        squash_commit_sha: null,
        squash: false,
      });
    },
    addMergedMergeRequest(projectId, m) {
      const at = m.mergedAt ?? new Date().toISOString();
      const user = state.user(42);
      const p = state.projects.get(projectId);
      if (!p) throw new Error(`no project ${projectId}`);
      return putMergeRequest(p, {
        id: state.id(),
        iid: m.iid,
        project_id: projectId,
        title: m.title ?? `Merge ${m.sourceBranch}`,
        description: '',
        state: 'merged',
        created_at: at,
        updated_at: at,
        merged_at: at,
        merged_by: user,
        merge_user: user,
        closed_at: null,
        closed_by: null,
        target_branch: m.targetBranch ?? p.defaultBranch,
        source_branch: m.sourceBranch,
        source_project_id: projectId,
        target_project_id: projectId,
        author: user,
        draft: false,
        sha: m.sha,
        merge_commit_sha: m.mergeCommitSha,
        squash_commit_sha: null,
        squash: false,
      });
    },
    addHook(projectId, h) {
      const hook: ProjectHook = {
        id: state.id(),
        url: h.url,
        name: '',
        description: '',
        project_id: projectId,
        push_events: true,
        push_events_branch_filter: '',
        issues_events: false,
        confidential_issues_events: false,
        merge_requests_events: true,
        tag_push_events: true,
        note_events: true,
        confidential_note_events: false,
        job_events: false,
        pipeline_events: false,
        wiki_page_events: false,
        deployment_events: false,
        releases_events: false,
        enable_ssl_verification: true,
        repository_update_events: false,
        created_at: new Date().toISOString(),
        alert_status: h.alertStatus ?? 'executable',
        disabled_until: h.disabledUntil ?? null,
      };
      state.hooks.push(hook);
      return hook;
    },
    failNext(match, status, times = 1, o = {}) {
      const headers = status === 429 ? { 'Retry-After': '1', ...o.headers } : { ...o.headers };
      state.faults.push({ match, status, remaining: times, headers, hang: false });
    },
    hangNext(match, times = 1) {
      state.faults.push({ match, status: 0, remaining: times, headers: {}, hang: true });
    },
    addOAuthApplication(a) {
      const clientId = randomBytes(32).toString('hex');
      const secret = `gloas-${randomBytes(32).toString('hex')}`;
      oauth.apps.set(clientId, { clientId, secret, redirectUri: a.redirectUri, scopes: a.scopes ?? ['read_api'] });
      return { clientId, secret };
    },
    oauthSignIn(userId) {
      if (userId !== null) state.user(userId);
      oauth.signedIn = userId;
    },
    oauthDeny(deny) {
      oauth.deny = deny;
    },
    oauthTokenLifetime(seconds) {
      oauth.expiresIn = seconds;
    },
    oauthTokens: () => oauth.tokens.map((t) => ({ ...t })),
    revokeOAuthTokens(userId) {
      for (const t of oauth.tokens) if (t.userId === userId) t.revoked = true;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
    409: 'Conflict',
  };
  return texts[status] ?? 'Error';
}
