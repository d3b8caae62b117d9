import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoraReport } from '../../src/dora/compute.js';
import { ReleaseHistories } from '../../src/releases/release-history.js';
import type { ReleaseEntry } from '../../src/releases/types.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';
import { cookieValue, csrfOf, signIn, signInForm, type WebSession } from '../helpers/web-session.js';

// The web UI through a running Slipway and the GitLab stand-in, over plain HTTP: what needs a
// session, what the cookies say, CSRF on every form, roles from GitLab access levels, the list's
// filters and pages, and the live log stream.
describe('web UI over HTTP', () => {
  let h: Harness;
  let project: FakeProject;
  const projectId = 16000 + Math.floor(Math.random() * 1000);
  const path = `team/web-${randomBytes(3).toString('hex')}`;
  const tokens: Record<string, string> = {};
  const sessions: Record<string, WebSession> = {};
  const runs: RunRecord[] = [];
  // The services' Redis under a prefix of this file's own, so the test can look at what is stored.
  const prefix = `webui-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390', { lazyConnect: true, maxRetriesPerRequest: 1 });

  const pipeline = ['smoke:', '  image: slipway/busybox:1', '  when: manual', '  script: [echo smoke ran]', ''].join('\n');
  const push = async (branch: string) => {
    const sha = await commitFiles(project.bareDir, branch, { '.slipway.yml': pipeline, 'n.txt': randomBytes(4).toString('hex') }, `on ${branch}`);
    const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path, sha, branch }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return h.waitForRun(String(res.json['runId']), ['succeeded', 'failed'], 60_000);
  };
  const get = (p: string, who?: string, headers: Record<string, string> = {}) =>
    fetch(`${h.url}${p}`, { redirect: 'manual', headers: { ...headers, ...(who ? { cookie: sessions[who]?.cookie ?? '' } : {}) } });
  const post = (p: string, who: string | undefined, form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${h.url}${p}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', ...(who ? { cookie: sessions[who]?.cookie ?? '' } : {}) },
      body: new URLSearchParams(form),
    });

  beforeAll(async () => {
    h = await startHarness({
      roles: ['http', 'planner', 'build'],
      env: {
        REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390',
        SLIPWAY_REDIS_PREFIX: prefix,
        SLIPWAY_TRUST_PROXY: 'true',
        SLIPWAY_ADMINS: 'opsy',
      },
    });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path, defaultBranch: 'main' });
    // rep: Reporter; dev: Developer; stranger: no member; root: a GitLab administrator; opsy: listed in SLIPWAY_ADMINS.
    const people: Array<[number, string, number | null, boolean]> = [
      [301, 'rep', 20, false],
      [302, 'dev', 30, false],
      [303, 'stranger', null, false],
      [304, 'root', null, true],
      [305, 'opsy', 20, false],
    ];
    for (const [id, username, level, admin] of people) {
      tokens[username] = h.gitlab.addUser({ id, username, admin }).token;
      if (level !== null) h.gitlab.setMember(projectId, id, level);
    }
    for (const branch of ['main', 'feature-a', 'main']) runs.push(await push(branch));
    for (const who of Object.keys(tokens)) sessions[who] = await signIn(h.url, tokens[who] ?? '');
  });
  afterAll(async () => {
    const unexpected = h.gitlab.unexpectedCalls();
    await h.stop();
    const mine = await redis.keys(`${prefix}:*`);
    if (mine.length > 0) await redis.del(...mine);
    redis.disconnect();
    expect(unexpected).toEqual([]);
  });

  it('sends a browser without a session to sign in, and refuses streams and forms with 401', async () => {
    const page = await get('/pipelines');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/sign-in?next=%2Fpipelines');
    const run = await get(`/runs/${runs[0]?.id}`);
    expect(run.status).toBe(303);
    expect((await get('/approvals')).status).toBe(303);
    const stream = await get(`/runs/${runs[0]?.id}/log/stream`);
    expect(stream.status).toBe(401);
    expect(((await stream.json()) as { error: string }).error).toContain('sign in');
    expect((await post(`/runs/${runs[0]?.id}/cancel`, undefined, {})).status).toBe(401);
  });

  it('signs in with a GitLab token: HttpOnly, SameSite=Lax cookies, Secure only behind HTTPS, and the token in no URL, log or Redis key', async () => {
    const form = await signInForm(h.url);
    expect(form.setCookie).toMatch(/slipway_signin_csrf=[^;]+;.*HttpOnly/);
    expect(form.setCookie).toMatch(/SameSite=Lax/);
    expect(form.setCookie).not.toMatch(/Secure/);
    const s = sessions['dev'];
    expect(s?.setCookie).toMatch(/(?:^|, )slipway_session=[\w-]+; Max-Age=43200; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax(?:,|$)/);
    // Behind a proxy that says HTTPS (SLIPWAY_TRUST_PROXY=true) the cookie is Secure.
    const behind = await signIn(h.url, tokens['dev'] ?? '', { 'x-forwarded-proto': 'https' });
    expect(behind.setCookie).toMatch(/; Secure/);
    // A wrong token: the form again with GitLab's verdict, no session.
    const bad = await signInForm(h.url);
    const refused = await fetch(`${h.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: bad.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: bad.csrf, token: 'glpat-not-a-real-one' }),
    });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('GitLab did not accept that token (HTTP 401)');
    expect(cookieValue(refused.headers.get('set-cookie'), 'slipway_session')).toBeUndefined();
    // The token went only in the POST body.
    const everything = h.logs.join('\n');
    for (const t of Object.values(tokens)) expect(everything).not.toContain(t);
    const keys = await redis.keys(`${prefix}:session*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k).not.toContain(cookieValue(s?.setCookie ?? '', 'slipway_session'));
      const v = (await redis.type(k)) === 'string' ? await redis.get(k) : JSON.stringify(await redis.hgetall(k));
      for (const t of Object.values(tokens)) expect(v).not.toContain(t);
    }
    const page = await (await get('/pipelines', 'dev')).text();
    for (const href of page.matchAll(/(?:href|action|src)="([^"]*)"/g)) for (const t of Object.values(tokens)) expect(href[1]).not.toContain(t);
  });

  it('refuses a sign-in form without its CSRF token', async () => {
    const res = await fetch(`${h.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens['dev'] ?? '' }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toContain('missing or invalid CSRF token');
  });

  it('refuses every action without the session CSRF token (403 JSON naming it), in the field or the header', async () => {
    const id = runs[2]?.id ?? '';
    for (const [p, form] of [
      [`/runs/${id}/cancel`, {}],
      [`/runs/${id}/retry`, { _csrf: 'forged' }],
      [`/runs/${id}/jobs/smoke/play`, {}],
      [`/runs/${id}/jobs/smoke/reject`, { reason: 'no' }],
      ['/sign-out', { _csrf: sessions['rep']?.csrf ?? '' }], // another session's token
    ] as const) {
      const res = await post(p, 'dev', form);
      expect(res.status, p).toBe(403);
      expect(((await res.json()) as { error: string }).error, p).toMatch(
        /^missing or invalid CSRF token: send the session's token in the _csrf form field or the X-CSRF-Token header/,
      );
    }
    expect((await h.slipway.store.getJob(id, 'smoke'))?.status.phase).toBe('manual');
  });

  it('keeps the API for the API token: a session cookie opens nothing there', async () => {
    const cookie = sessions['root']?.cookie ?? '';
    expect((await fetch(`${h.url}/api/runs`, { headers: { cookie } })).status).toBe(401);
    const start = await fetch(`${h.url}/api/runs`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': sessions['root']?.csrf ?? '' },
      body: JSON.stringify({ project: projectId, ref: 'main' }),
    });
    expect(start.status).toBe(401);
    expect((await h.api('/api/runs')).status).toBe(200);
  });

  it('lists runs newest first by project, ref and status, a page at a time, to members only', async () => {
    const ids = (html: string) => [...html.matchAll(/<a href="\/runs\/([\w-]+)">/g)].map((m) => m[1]);
    const all = await (await get(`/pipelines?project=${projectId}`, 'rep')).text();
    expect(ids(all)).toEqual([...runs].reverse().map((r) => r.id));
    expect(ids(await (await get(`/pipelines?project=${projectId}&ref=feature-a`, 'rep')).text())).toEqual([runs[1]?.id]);
    expect(ids(await (await get('/pipelines?status=succeeded', 'rep')).text())).toEqual([...runs].reverse().map((r) => r.id));
    expect(ids(await (await get('/pipelines?status=failed', 'rep')).text())).toEqual([]);
    // Pages of 2: the second starts after the first, and says there is nothing older.
    const first = await (await get('/pipelines?per_page=2', 'rep')).text();
    expect(ids(first)).toEqual([runs[2]?.id, runs[1]?.id]);
    const older = /<a href="([^"]+)" rel="next">/.exec(first)?.[1]?.replace(/&amp;/g, '&') ?? '';
    expect(older).toMatch(/^\/pipelines\?per_page=2&after=\d+\./);
    const second = await (await get(older, 'rep')).text();
    expect(ids(second)).toEqual([runs[0]?.id]);
    expect(second).not.toContain('rel="next"');
    // Not a member: nothing listed, the run page is not found; a GitLab administrator sees everything.
    expect(ids(await (await get('/pipelines', 'stranger')).text())).toEqual([]);
    expect((await get(`/runs/${runs[0]?.id}`, 'stranger')).status).toBe(404);
    expect(ids(await (await get('/pipelines', 'root')).text())).toHaveLength(3);
    const bad = await get('/pipelines?status=done', 'rep', { accept: 'application/json' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('status must be one of received, planning, running');
  });

  it('shows actions by GitLab role: a Reporter is told why not, a Developer plays the manual job', async () => {
    const id = runs[2]?.id ?? '';
    const rep = await (await get(`/runs/${id}`, 'rep')).text();
    expect(rep).toContain(`@rep is Reporter (20) of ${path}: only a Developer of ${path} may decide this step`);
    expect(rep).not.toContain('>Play smoke</button>');
    expect(rep).not.toContain('Retry (new run');
    const dev = await (await get(`/runs/${id}`, 'dev')).text();
    expect(dev).toContain('<button type="submit">Play smoke</button>');
    expect(dev).toContain('Retry (new run of');
    // A Reporter who forges the form is refused by the approvals code itself.
    const forged = await post(`/runs/${id}/jobs/smoke/play`, 'rep', { _csrf: sessions['rep']?.csrf ?? '' }, { accept: 'application/json' });
    expect(forged.status).toBe(403);
    const played = await post(`/runs/${id}/jobs/smoke/play`, 'dev', { _csrf: csrfOf(dev) ?? '' });
    expect(played.status).toBe(303);
    expect(played.headers.get('location')).toBe(`/runs/${id}`);
    await eventually(async () => expect((await h.slipway.store.getJob(id, 'smoke'))?.status.phase).not.toBe('manual'), 10_000);
    const audit = (await h.api<{ entries: Array<{ source: string; user: { username: string }; outcome: string }> }>('/api/audit')).body.entries;
    expect(audit.find((e) => e.outcome === 'approved')).toMatchObject({ source: 'web', user: { username: 'dev' } });
  });

  it('retries a run as a new run of the same commit, triggered by the person', async () => {
    const old = runs[1] as RunRecord;
    const res = await post(`/runs/${old.id}/retry`, 'dev', { _csrf: sessions['dev']?.csrf ?? '' });
    expect(res.status).toBe(303);
    const newId = /^\/runs\/([\w-]+)$/.exec(res.headers.get('location') ?? '')?.[1] ?? '';
    expect(newId).not.toBe(old.id);
    const again = await h.waitForRun(newId, ['succeeded', 'failed'], 60_000);
    expect(again.request).toMatchObject({ sha: old.request.sha, ref: 'feature-a', event: 'push', actor: 'dev' });
  });

  it('streams the log as Server-Sent Events with an id per line, resumes after Last-Event-ID, and announces lines the cap dropped', async () => {
    const run = runs[0] as RunRecord;
    const read = async (headers: Record<string, string>, query = '') => {
      const res = await get(`/runs/${run.id}/log/stream${query}`, 'rep', headers);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      return res.text(); // the run has ended: the stream ends after the last line
    };
    const whole = await read({});
    const ids = [...whole.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids.length).toBeGreaterThan(1);
    expect(ids).toEqual(ids.map((_, i) => i));
    expect(whole).toMatch(/event: end\ndata: \{"phase":"succeeded","lines":\d+\}/);
    const resumed = await read({ 'last-event-id': '0' });
    expect([...resumed.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual(ids.slice(1));
    // 20,010 more lines: the log keeps the last 20,000, and a reader from the start is told what was dropped.
    const before = ids.length;
    for (let i = 0; i < 20_010; i += 500)
      await Promise.all(Array.from({ length: Math.min(500, 20_010 - i) }, (_, j) => h.slipway.store.appendLog(run.id, 'smoke', 'stdout', `filler ${i + j}`)));
    const capped = await read({}, '?from=0');
    expect(capped).toContain(`event: truncated\ndata: {"dropped":${before + 10},"first":${before + 10},"cap":20000}`);
    expect(capped).toMatch(new RegExp(`^id: ${before + 10}\\n`, 'm'));
    expect([...capped.matchAll(/^id: /gm)]).toHaveLength(20_000);
  });

  it('shows the queue dashboard to admins only: GitLab administrators and SLIPWAY_ADMINS, or the API token', async () => {
    expect((await get('/admin/queues')).status).toBe(401);
    const browser = await get('/admin/queues', undefined, { accept: 'text/html' });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/sign-in?next=%2Fadmin%2Fqueues');
    expect((await get('/admin/queues', 'dev', { accept: 'text/html' })).status).toBe(403);
    for (const who of ['root', 'opsy']) {
      const page = await get('/admin/queues', who, { accept: 'text/html' });
      expect(page.status, who).toBe(200);
      expect(await page.text()).toContain('Slipway queues');
    }
    const put = await fetch(`${h.url}/admin/queues/api/queues/build/pause`, { method: 'PUT', headers: { cookie: sessions['root']?.cookie ?? '' } });
    expect(put.status).toBe(403);
    expect((await get('/admin/queues', undefined, { authorization: `Bearer ${h.slipway.apiToken}` })).status).toBe(200);
    expect((await get('/pipelines', 'opsy')).status).toBe(200);
    expect(await (await get('/pipelines', 'opsy')).text()).toContain('href="/admin/queues"');
    expect(await (await get('/pipelines', 'dev')).text()).not.toContain('href="/admin/queues"');
  });

  it('signs out: the session is gone from Redis and the cookie opens nothing', async () => {
    const s = await signIn(h.url, tokens['rep'] ?? '');
    const res = await fetch(`${h.url}/sign-out`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: s.csrf }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/slipway_session=; .*Expires=Thu, 01 Jan 1970/);
    expect((await fetch(`${h.url}/pipelines`, { redirect: 'manual', headers: { cookie: s.cookie } })).status).toBe(303);
  });

  it('environments: sign-in required, Reporters see the matrix and history without buttons, rollback needs a Maintainer and the CSRF token; DORA in the API', async () => {
    // Two deploys of websvc to pre, written into this Slipway's Redis as the deploy worker records them:
    // v1 went live, v2 failed its health check (rolled back), then v3 went live.
    const histories = new ReleaseHistories(redis, randomBytes(32), prefix);
    const history = histories.of('websvc', 'pre');
    const t0 = Date.now() - 3600_000;
    const release = (n: number, outcome: ReleaseEntry['outcome'], minutes: number): Omit<ReleaseEntry, 'id'> => ({
      kind: 'deploy',
      service: 'websvc',
      environment: 'pre',
      target: 'docker',
      project: { id: projectId, path },
      runId: runs[n - 1]?.id ?? '',
      sha: runs[n - 1]?.request.sha ?? '',
      image: `127.0.0.1:5050/websvc@sha256:${String(n).repeat(64)}`,
      digest: `sha256:${String(n).repeat(64)}`,
      configRevision: null,
      clusters: [],
      url: null,
      by: 'pipeline',
      at: new Date(t0 + minutes * 60_000).toISOString(),
      reason: `pipeline ${runs[n - 1]?.id ?? ''}: push of main`,
      outcome,
      detail: outcome === 'live' ? 'healthy' : 'health check failed: 503',
      rollbackTo: null,
      timeoutMs: 30_000,
      log: [],
    });
    const spec = { service: 'websvc', environment: 'pre', image: 'x', env: {}, port: 1, healthPath: '/', runId: 'r' };
    await history.add(release(1, 'live', 0), spec);
    await history.add(release(2, 'rolled-back', 10), spec);
    await history.add(release(3, 'live', 30), spec);

    const anon = await get('/environments');
    expect(anon.status).toBe(303);
    expect(anon.headers.get('location')).toBe('/sign-in?next=%2Fenvironments');

    const matrix = await (await get('/environments', 'rep')).text();
    expect(matrix).toMatch(/<tr data-service="websvc" data-environment="pre" data-cluster="docker host">/);
    expect(matrix).toContain('333333333333');
    expect(matrix).toContain(`<code>${(runs[2]?.request.sha ?? '').slice(0, 8)}</code>`);
    expect(matrix).toContain('release 3 passed its health check');
    // Strangers to the project see nothing of it.
    expect(await (await get('/environments', 'stranger')).text()).not.toContain('websvc');
    expect((await get('/environments/websvc/pre', 'stranger')).status).toBe(404);

    const repHistory = await (await get('/environments/websvc/pre', 'rep')).text();
    expect(repHistory).toContain('health check failed: 503');
    expect(repHistory).not.toContain('Roll back to release');
    expect(repHistory).toContain(`Only a Maintainer or Owner of ${path} may roll back or resume pre.`);
    // An administrator (Maintainer rights everywhere) gets a button for release 1, not for the live one or the failed one.
    const rootHistory = await (await get('/environments/websvc/pre', 'root')).text();
    expect(rootHistory).toContain('Roll back to release 1');
    expect(rootHistory).not.toContain('Roll back to release 2');
    expect(rootHistory).not.toContain('Roll back to release 3');

    const asDev = await post(
      '/environments/websvc/pre/rollback',
      'dev',
      { _csrf: sessions['dev']?.csrf ?? '', release: '1', reason: 'x' },
      { accept: 'application/json' },
    );
    expect(asDev.status).toBe(403);
    expect(((await asDev.json()) as { error: string }).error).toBe(`only a Maintainer or Owner of ${path} may roll back or resume pre`);
    const noCsrf = await post('/environments/websvc/pre/rollback', 'root', { release: '1', reason: 'x' });
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as { error: string }).error).toContain('CSRF');
    const noReason = await post(
      '/environments/websvc/pre/rollback',
      'root',
      { _csrf: sessions['root']?.csrf ?? '', release: '1' },
      { accept: 'application/json' },
    );
    expect(noReason.status).toBe(400);
    expect((await history.list()).map((e) => e.id)).toEqual([3, 2, 1]);
    expect(await history.pause()).toBeNull();

    // DORA through the API: 3 deploys, 1 failed; restored 20 minutes after; lead times from the commits' dates in GitLab.
    const dora = await h.api<{ reports: DoraReport[] }>('/api/dora?service=websvc');
    expect(dora.status).toBe(200);
    const [report] = dora.body.reports;
    expect(report).toMatchObject({
      service: 'websvc',
      environment: 'pre',
      complete: true,
      deployments: { total: 3, succeeded: 2, failed: 1 },
      changeFailureRate: 0.333,
      timeToRestore: { medianSeconds: 1200, restored: 1, open: 0 },
      leadTime: { samples: 2, unknown: 0 },
    });
    expect((await h.api('/api/dora?environment=Prod!')).status).toBe(400);
    expect((await h.api('/api/dora?since=yesterday')).body).toEqual({ error: expect.stringContaining('since must be an ISO 8601 date') });
    expect((await h.api('/api/dora?service=nothing-here')).status).toBe(404);
    expect((await fetch(`${h.url}/api/dora`)).status).toBe(401);
    expect(await (await get('/environments', 'rep')).text()).toContain('33 %');
  });
});
