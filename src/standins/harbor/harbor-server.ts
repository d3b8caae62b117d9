/*
 * A fake Harbor for tests: the few Harbor API v2.0 calls Slipway makes, on 127.0.0.1 (random port).
 *
 * Wire shapes follow Harbor's API v2.0 swagger (goharbor/harbor api/v2.0/swagger.yaml, served by a
 * Harbor at /devcenter-api-2.0) and the docs page "Using the Harbor API" (goharbor.io/docs/…/build-customize-contribute/configure-swagger/):
 *  - HEAD /projects?project_name= (operationId headProject): 200 when the project exists, 404 when not
 *  - POST /projects (createProject, body ProjectReq {project_name, public, metadata{public:"true"|"false"}}):
 *    201 with Location /api/v2.0/projects/{id}; 409 CONFLICT when the name exists; 400 on a bad body
 *  - GET /projects/{project_name_or_id}/immutabletagrules (ListImmuRules): ImmutableRule[]; the name is
 *    taken as a name with X-Is-Resource-Name: true, or when it is not an integer
 *  - GET /projects/{project_name}/repositories/{repository_name}/artifacts/{reference} (getArtifact):
 *    repository_name URL-encoded twice when it holds "/"; 404 NOT_FOUND when missing
 *  - errors: {"errors":[{"code":"UNAUTHORIZED"|"FORBIDDEN"|"NOT_FOUND"|"CONFLICT","message":"…"}]}
 *  - auth: HTTP Basic (users and robot accounts such as robot$ci+push); 401 otherwise.
 * Every call is recorded; a call the fake does not know answers 404 and is listed by unexpectedCalls().
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HarborCall {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

export interface FakeHarborRule {
  id?: number;
  disabled?: boolean;
  tagPattern: string;
  tagDecoration?: 'matches' | 'excludes';
  repoPattern?: string;
  repoDecoration?: 'repoMatches' | 'repoExcludes';
}

export interface FakeHarbor {
  url: string;
  calls: HarborCall[];
  unexpectedCalls(): HarborCall[];
  addProject(name: string, opts?: { rules?: FakeHarborRule[] }): void;
  addArtifact(project: string, repository: string, tag: string): void;
  projects(): Array<{ name: string; public: boolean }>;
  /** The robot's permission to create projects (Harbor: a system robot with project create rights). */
  canCreateProjects: boolean;
  failNext(method: string, pathPrefix: string, status: number, times?: number): void;
  close(): Promise<void>;
}

interface Project {
  id: number;
  name: string;
  public: boolean;
  rules: FakeHarborRule[];
  artifacts: Set<string>;
}

export async function startFakeHarbor(opts: { username?: string; password?: string } = {}): Promise<FakeHarbor> {
  const basic = `Basic ${Buffer.from(`${opts.username ?? 'robot$ci+push'}:${opts.password ?? 'robot-secret'}`).toString('base64')}`;
  const projects = new Map<string, Project>();
  const calls: HarborCall[] = [];
  const unexpected = new Set<HarborCall>();
  const faults: Array<{ method: string; prefix: string; status: number; times: number }> = [];
  let nextId = 1;

  const fake: FakeHarbor = {
    url: '',
    calls,
    unexpectedCalls: () => [...unexpected],
    addProject(name, o = {}) {
      projects.set(name, { id: nextId++, name, public: false, rules: o.rules ?? [], artifacts: new Set() });
    },
    addArtifact(project, repository, tag) {
      const p = projects.get(project);
      if (!p) throw new Error(`fake harbor: no project ${project}`);
      p.artifacts.add(`${repository}:${tag}`);
    },
    projects: () => [...projects.values()].map((p) => ({ name: p.name, public: p.public })),
    canCreateProjects: true,
    failNext(method, prefix, status, times = 1) {
      faults.push({ method, prefix, status, times });
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const send = (res: ServerResponse, call: HarborCall, status: number, body?: unknown, headers: Record<string, string> = {}): void => {
    call.status = status;
    const text = body === undefined || call.method === 'HEAD' ? '' : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'X-Request-Id': `req-${calls.length}`, ...headers }).end(text);
  };
  const err = (code: string, message: string): unknown => ({ errors: [{ code, message }] });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const call: HarborCall = { method: req.method ?? '', path: url.pathname, query: url.search, headers: req.headers, body, status: 0 };
    calls.push(call);

    const fault = faults.find((f) => f.method === call.method && call.path.startsWith(f.prefix) && f.times > 0);
    if (fault) {
      fault.times--;
      return send(res, call, fault.status, err('INTERNAL_SERVER_ERROR', 'injected fault'));
    }
    if (req.headers.authorization !== basic) return send(res, call, 401, err('UNAUTHORIZED', 'unauthorized'));

    const seg = url.pathname.replace(/^\/api\/v2\.0\//, '').split('/');
    // seg holds still-encoded path segments: decode once, as Harbor's router does.
    const byName = (raw: string): Project | undefined => {
      const name = decodeURIComponent(raw);
      if (req.headers['x-is-resource-name'] !== 'true' && /^\d+$/.test(name)) return [...projects.values()].find((p) => p.id === Number(name));
      return projects.get(name);
    };

    if (call.method === 'HEAD' && url.pathname === '/api/v2.0/projects') {
      const name = url.searchParams.get('project_name');
      if (!name) return send(res, call, 400, err('BAD_REQUEST', 'project_name is required'));
      return send(res, call, projects.has(name) ? 200 : 404);
    }
    if (call.method === 'POST' && url.pathname === '/api/v2.0/projects') {
      const b = body as { project_name?: unknown; public?: unknown; metadata?: { public?: unknown } } | undefined;
      if (typeof b?.project_name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,254}$/.test(b.project_name)) {
        return send(res, call, 400, err('BAD_REQUEST', 'project name is not in lower case or contains illegal characters'));
      }
      if (!fake.canCreateProjects) return send(res, call, 403, err('FORBIDDEN', 'forbidden'));
      if (projects.has(b.project_name)) return send(res, call, 409, err('CONFLICT', `The project named ${b.project_name} already exists`));
      fake.addProject(b.project_name);
      const p = projects.get(b.project_name) as Project;
      p.public = b.metadata?.public === 'true' || b.public === true;
      return send(res, call, 201, undefined, { Location: `/api/v2.0/projects/${p.id}` });
    }
    if (call.method === 'GET' && seg[0] === 'projects' && seg.length === 3 && seg[2] === 'immutabletagrules') {
      const p = byName(seg[1] ?? '');
      if (!p) return send(res, call, 404, err('NOT_FOUND', `project ${seg[1]} not found`));
      return send(
        res,
        call,
        200,
        p.rules.map((r, i) => ({
          id: r.id ?? i + 1,
          project_id: p.id,
          disabled: r.disabled ?? false,
          priority: 0,
          action: 'immutable',
          template: 'immutable_template',
          tag_selectors: [{ kind: 'doublestar', decoration: r.tagDecoration ?? 'matches', pattern: r.tagPattern }],
          scope_selectors: { repository: [{ kind: 'doublestar', decoration: r.repoDecoration ?? 'repoMatches', pattern: r.repoPattern ?? '**' }] },
        })),
      );
    }
    if (call.method === 'GET' && seg[0] === 'projects' && seg.length === 6 && seg[2] === 'repositories' && seg[4] === 'artifacts') {
      const p = byName(seg[1] ?? '');
      // One decode by the router, one by Harbor's handler: "a%252Fb" → "a/b".
      const repository = decodeURIComponent(decodeURIComponent(seg[3] ?? ''));
      const tag = decodeURIComponent(seg[5] ?? '');
      if (!p?.artifacts.has(`${repository}:${tag}`)) return send(res, call, 404, err('NOT_FOUND', `artifact ${p?.name}/${repository}:${tag} not found`));
      return send(res, call, 200, { id: 1, type: 'IMAGE', digest: `sha256:${'0'.repeat(64)}`, tags: [{ name: tag, immutable: p.rules.length > 0 }] });
    }
    unexpected.add(call);
    return send(res, call, 404, err('NOT_FOUND', 'fake harbor: no such route'));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => res.writeHead(500).end(String(e)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
