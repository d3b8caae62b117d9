import express from 'express';
import type { Request, Response, Router } from 'express';
import { str } from './body.js';
import type { ParsedBody } from './body.js';
import { deploymentRoutes } from './deployments.js';
import { paginate } from './pagination.js';
import { commitsBetween, firstBranchContaining, listBranchHeads, readBlob, resolveCommit, showCommit } from './repo-queries.js';
import { applyStatus } from './state.js';
import type { FakeState } from './state.js';
import type { CommitStatusState, CurrentUser, FakeProject, Note, UserBasic } from './types.js';

// The GitLab API v4 endpoints Slipway uses, with GitLab's status codes and error bodies.

const STATES: readonly CommitStatusState[] = ['pending', 'running', 'success', 'failed', 'canceled', 'skipped'];

type Handler = (req: Request, res: Response, project: FakeProject, body: ParsedBody | null) => Promise<void> | void;

function param(req: Request, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  return v ?? '';
}

function query(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

export function apiRouter(state: FakeState): Router {
  const r = express.Router();

  // Wraps a project-scoped handler: 404 Project Not Found when :id matches nothing, body parsed once.
  const project =
    (h: Handler) =>
    async (req: Request, res: Response): Promise<void> => {
      const p = state.findProject(param(req, 'id'));
      if (!p) {
        res.status(404).json({ message: '404 Project Not Found' });
        return;
      }
      await h(req, res, p, (res.locals['body'] as ParsedBody | null | undefined) ?? null);
    };

  deploymentRoutes(r, state, project);

  // GET /user answers for whoever the token belongs to: the bot, or a user with their own token.
  // doc/api/users.md, "Get the current user": an administrator's answer also has `is_admin: true`.
  r.get('/user', (_req, res) => {
    const u = (res.locals['caller'] as UserBasic | undefined) ?? state.currentUser;
    res.json(state.admins.has(u.id) ? { ...currentUserView(u), is_admin: true } : currentUserView(u));
  });

  // doc/api/members.md, "Get a member of a group or project, including inherited and invited members".
  r.get('/groups/:id/members/all/:user_id', (req, res) => {
    const group = param(req, 'id').toLowerCase();
    if (!state.groups.has(group)) {
      res.status(404).json({ message: '404 Group Not Found' });
      return;
    }
    const m = state.groupMembers.get(`${group}:${param(req, 'user_id')}`);
    if (!m) res.status(404).json({ message: '404 Not found' });
    else res.json(m);
  });

  // doc/api/merge_requests.md, "Get single MR".
  r.get(
    '/projects/:id/merge_requests/:iid',
    project((req, res, p) => {
      const iid = Number(param(req, 'iid'));
      const mr = state.mergeRequests.find((m) => m.project_id === p.id && m.iid === iid);
      if (!mr) res.status(404).json({ message: '404 Not found' });
      else res.json(mr);
    }),
  );

  // doc/api/merge_requests.md, "Get single merge request commits": the commits of the source branch
  // the target branch lacks, newest first. The fake's merge requests know only their head (`sha`):
  // one already merged (its head is in the target) answers that head alone; one without a head, none.
  r.get(
    '/projects/:id/merge_requests/:iid/commits',
    project(async (req, res, p) => {
      const iid = Number(param(req, 'iid'));
      const mr = state.mergeRequests.find((m) => m.project_id === p.id && m.iid === iid);
      if (!mr) {
        res.status(404).json({ message: '404 Not found' });
        return;
      }
      if (/^0+$/.test(mr.sha)) {
        res.json([]);
        return;
      }
      const own = await commitsBetween(p.bareDir, mr.sha, mr.target_branch, 100);
      const head = own.length > 0 ? own : [await showCommit(p.bareDir, mr.sha)].filter((c) => c !== null);
      res.json(head);
    }),
  );

  // doc/api/commits.md, "Get a single commit" (by SHA, branch or tag).
  r.get(
    '/projects/:id/repository/commits/:sha',
    project(async (req, res, p) => {
      const c = await showCommit(p.bareDir, param(req, 'sha'));
      if (!c) res.status(404).json({ message: '404 Commit Not Found' });
      else res.json(c);
    }),
  );

  r.get(
    '/projects/:id',
    project((_req, res, p) => {
      const name = p.pathWithNamespace.split('/').pop() ?? p.pathWithNamespace;
      res.json({
        id: p.id,
        description: null,
        name,
        name_with_namespace: p.pathWithNamespace.split('/').join(' / '),
        path: name,
        path_with_namespace: p.pathWithNamespace,
        default_branch: p.defaultBranch,
        visibility: p.visibility,
        web_url: `${state.baseUrl}/${p.pathWithNamespace}`,
        http_url_to_repo: p.cloneUrl,
        ssh_url_to_repo: `git@127.0.0.1:${p.pathWithNamespace}.git`,
      });
    }),
  );

  r.post(
    '/projects/:id/statuses/:sha',
    project(async (req, res, p, body) => {
      const stateParam = str(body, 'state');
      if (stateParam === undefined) {
        res.status(400).json({ error: 'state is missing, state does not have a valid value' });
        return;
      }
      const wanted = STATES.find((s) => s === stateParam);
      if (!wanted) {
        res.status(400).json({ error: 'state does not have a valid value' });
        return;
      }
      const coverageRaw = str(body, 'coverage');
      const coverage = coverageRaw === undefined ? null : Number(coverageRaw);
      if (coverage !== null && !Number.isFinite(coverage)) {
        res.status(400).json({ error: 'coverage is invalid' });
        return;
      }
      const sha = await resolveCommit(p.bareDir, param(req, 'sha'));
      if (!sha) {
        res.status(404).json({ message: '404 Commit Not Found' });
        return;
      }
      const ref = str(body, 'ref') ?? (await firstBranchContaining(p.bareDir, sha));
      if (!ref) {
        res.status(404).json({ message: '404 References for commit Not Found' });
        return;
      }
      const pipelineParam = str(body, 'pipeline_id');
      const pipelineId = state.pipelineId(p.id, sha, ref);
      if (pipelineParam !== undefined && Number(pipelineParam) !== pipelineId) {
        res.status(404).json({ message: '404 Pipeline for pipeline_id, sha and ref Not Found' });
        return;
      }
      const result = applyStatus(state, p.id, sha, {
        state: wanted,
        name: str(body, 'name') ?? str(body, 'context') ?? 'default',
        ref,
        targetUrl: str(body, 'target_url') ?? null,
        description: str(body, 'description') ?? null,
        coverage,
        pipelineId,
      });
      if (!result.ok) res.status(400).json({ message: result.message });
      else res.status(201).json(result.status);
    }),
  );

  r.get(
    '/projects/:id/repository/commits/:sha/statuses',
    project(async (req, res, p) => {
      const sha = await resolveCommit(p.bareDir, param(req, 'sha'));
      if (!sha) {
        res.status(404).json({ message: '404 Commit Not Found' });
        return;
      }
      const ref = query(req, 'ref');
      const name = query(req, 'name');
      const all = query(req, 'all') === 'true';
      const list = state.statusRecords
        .filter((x) => x.projectId === p.id && x.status.sha === sha)
        .map((x) => x.status)
        .filter((s) => (ref === undefined || s.ref === ref) && (name === undefined || s.name === name));
      // Without all=true GitLab shows only the latest status per name and ref.
      const latest = all ? list : list.filter((s) => !list.some((o) => o.name === s.name && o.ref === s.ref && o.id > s.id));
      res.json(paginate(req, res, state.baseUrl, latest));
    }),
  );

  r.get(
    '/projects/:id/repository/files/:file_path/raw',
    project(async (req, res, p) => {
      const ref = query(req, 'ref') ?? p.defaultBranch;
      const sha = await resolveCommit(p.bareDir, ref);
      if (!sha) {
        res.status(404).json({ message: '404 Commit Not Found' });
        return;
      }
      const blob = await readBlob(p.bareDir, sha, param(req, 'file_path'));
      if (!blob) {
        res.status(404).json({ message: '404 File Not Found' });
        return;
      }
      const fileName = param(req, 'file_path').split('/').pop() ?? '';
      // GitLab sends text as text/plain and anything with a NUL byte as a download.
      const binary = blob.includes(0);
      res.status(200).set({
        'Content-Type': binary ? 'application/octet-stream' : 'text/plain; charset=utf-8',
        'X-Gitlab-File-Name': fileName,
        'X-Gitlab-File-Path': param(req, 'file_path'),
        'X-Gitlab-Ref': ref,
      });
      res.end(blob);
    }),
  );

  const notesOf = (projectId: number, iid: number): Note[] => state.notes.filter((n) => n.project_id === projectId && n.noteable_iid === iid);

  r.get(
    '/projects/:id/merge_requests/:iid/notes',
    project((req, res, p) => {
      const asc = query(req, 'sort') === 'asc';
      const key = query(req, 'order_by') === 'updated_at' ? 'updated_at' : 'created_at';
      // Default order: created_at desc, newest first; ties broken by id like the database would.
      const sorted = [...notesOf(p.id, Number(param(req, 'iid')))].sort((a, b) => {
        const c = a[key].localeCompare(b[key]) || a.id - b.id;
        return asc ? c : -c;
      });
      res.json(paginate(req, res, state.baseUrl, sorted));
    }),
  );

  r.post(
    '/projects/:id/merge_requests/:iid/notes',
    project((req, res, p, body) => {
      const text = str(body, 'body');
      if (text === undefined || text === '') {
        res.status(400).json({ error: 'body is missing' });
        return;
      }
      res.status(201).json(addNote(state, p.id, Number(param(req, 'iid')), text, state.currentUser.id));
    }),
  );

  r.put(
    '/projects/:id/merge_requests/:iid/notes/:note_id',
    project((req, res, p, body) => {
      const note = notesOf(p.id, Number(param(req, 'iid'))).find((n) => n.id === Number(param(req, 'note_id')));
      if (!note) {
        res.status(404).json({ message: '404 Note Not Found' });
        return;
      }
      if (note.author.id !== state.currentUser.id) {
        res.status(403).json({ message: '403 Forbidden' });
        return;
      }
      const text = str(body, 'body');
      if (text === undefined || text === '') {
        res.status(400).json({ error: 'body is missing' });
        return;
      }
      note.body = text;
      note.updated_at = new Date().toISOString();
      res.status(200).json(note);
    }),
  );

  // Query parameters each list route knows; anything else is a call nobody planned for: 400 and
  // recorded as unexpected (GitLab would ignore it, which would hide a client bug here).
  const onlyParams = (req: Request, res: Response, known: readonly string[]): boolean => {
    const extra = Object.keys(req.query as object).filter((k) => !known.includes(k) && k !== 'page' && k !== 'per_page');
    if (extra.length === 0) return true;
    (res.locals['call'] as { unexpected: boolean }).unexpected = true;
    res.status(400).json({ error: `the fake does not support ${extra.join(', ')}` });
    return false;
  };

  // doc/api/branches.md, "List repository branches": sorted by name, each with its head commit.
  r.get(
    '/projects/:id/repository/branches',
    project(async (req, res, p) => {
      if (!onlyParams(req, res, [])) return;
      const heads = await listBranchHeads(p.bareDir);
      const web = `${state.baseUrl}/${p.pathWithNamespace}`;
      res.json(
        paginate(
          req,
          res,
          state.baseUrl,
          heads.map((b) => ({
            name: b.name,
            merged: false,
            protected: b.name === p.defaultBranch,
            default: b.name === p.defaultBranch,
            developers_can_push: false,
            developers_can_merge: false,
            can_push: true,
            web_url: `${web}/-/tree/${b.name}`,
            commit: {
              id: b.sha,
              short_id: b.sha.slice(0, 8),
              created_at: b.committerDate,
              parent_ids: b.parents,
              title: b.subject,
              message: b.body ? `${b.subject}\n\n${b.body}` : b.subject,
              author_name: b.authorName,
              author_email: b.authorEmail,
              authored_date: b.authorDate,
              committer_name: b.committerName,
              committer_email: b.committerEmail,
              committed_date: b.committerDate,
              trailers: {},
              web_url: `${web}/-/commit/${b.sha}`,
            },
          })),
        ),
      );
    }),
  );

  // doc/api/merge_requests.md, "List project merge requests": state, updated_after, order_by
  // (created_at | updated_at), sort (asc | desc; default created_at desc).
  r.get(
    '/projects/:id/merge_requests',
    project((req, res, p) => {
      if (!onlyParams(req, res, ['state', 'updated_after', 'order_by', 'sort', 'scope'])) return;
      const wanted = query(req, 'state') ?? 'all';
      if (!['opened', 'closed', 'locked', 'merged', 'all'].includes(wanted)) {
        res.status(400).json({ error: 'state does not have a valid value' });
        return;
      }
      const after = query(req, 'updated_after');
      if (after !== undefined && Number.isNaN(Date.parse(after))) {
        res.status(400).json({ error: 'updated_after is invalid' });
        return;
      }
      const key = query(req, 'order_by') === 'updated_at' ? 'updated_at' : 'created_at';
      const asc = query(req, 'sort') === 'asc';
      const list = state.mergeRequests
        .filter((m) => m.project_id === p.id && (wanted === 'all' || wanted === m.state))
        .filter((m) => after === undefined || Date.parse(m.updated_at) >= Date.parse(after))
        .sort((a, b) => (asc ? 1 : -1) * (a[key].localeCompare(b[key]) || a.iid - b.iid));
      res.json(paginate(req, res, state.baseUrl, list));
    }),
  );

  // doc/api/project_webhooks.md, "List webhooks for a project".
  r.get(
    '/projects/:id/hooks',
    project((req, res, p) => {
      if (!onlyParams(req, res, [])) return;
      res.json(
        paginate(
          req,
          res,
          state.baseUrl,
          state.hooks.filter((x) => x.project_id === p.id),
        ),
      );
    }),
  );

  r.get(
    '/projects/:id/members/all/:user_id',
    project((req, res, p) => {
      const m = state.members.get(`${p.id}:${param(req, 'user_id')}`);
      if (!m) res.status(404).json({ message: '404 Not found' });
      else res.json(m);
    }),
  );

  return r;
}

export function addNote(state: FakeState, projectId: number, iid: number, body: string, authorId: number): Note {
  // Notes made in the same millisecond still need a stable order: nudge created_at forward.
  const last = state.notes.at(-1);
  let ts = Date.now();
  if (last && Date.parse(last.created_at) >= ts) ts = Date.parse(last.created_at) + 1;
  const now = new Date(ts).toISOString();
  const note: Note = {
    id: state.id(),
    type: null,
    body,
    attachment: null,
    author: state.user(authorId),
    created_at: now,
    updated_at: now,
    system: false,
    noteable_id: 5000 + iid,
    noteable_type: 'MergeRequest',
    project_id: projectId,
    noteable_iid: iid,
    resolvable: false,
    confidential: false,
    internal: false,
  };
  state.notes.push(note);
  return note;
}

function currentUserView(u: UserBasic): CurrentUser {
  return {
    ...u,
    locked: false,
    created_at: '2024-01-02T03:04:05.000Z',
    bot: false,
    public_email: null,
    email: `${u.username}@example.com`,
    commit_email: `${u.username}@example.com`,
    last_sign_in_at: null,
    confirmed_at: '2024-01-02T03:04:05.000Z',
    last_activity_on: null,
    can_create_group: true,
    can_create_project: true,
    two_factor_enabled: false,
    external: false,
    private_profile: false,
    projects_limit: 100000,
    identities: [],
  };
}
