import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commitFiles } from '../../../src/standins/gitlab/git-repo.js';
import { gitOk } from '../../../src/standins/gitlab/git.js';
import { startFakeGitlab } from '../../../src/standins/gitlab/gitlab-server.js';
import type { FakeGitlab, FakeProject } from '../../../src/standins/gitlab/gitlab-server.js';

let gl: FakeGitlab;
let project: FakeProject;
let work: string;

beforeEach(async () => {
  gl = await startFakeGitlab();
  project = await gl.addProject({ id: 5, pathWithNamespace: 'acme/web' });
  work = await mkdtemp(join(tmpdir(), 'slipway-fake-test-'));
});

afterEach(async () => {
  await gl.close();
  await rm(work, { recursive: true, force: true });
});

const api = (path: string, init: RequestInit = {}, token: string | null = gl.token): Promise<Response> =>
  fetch(`${gl.url}/api/v4${path}`, {
    ...init,
    headers: { ...(token === null ? {} : { 'PRIVATE-TOKEN': token }), ...(init.headers as Record<string, string> | undefined) },
  });

describe('git smart HTTP', () => {
  it('serves git clone and git fetch to the real git CLI, hostile branch names and messages included', async () => {
    const hostileMessage = 'feat: $(touch /tmp/pwned) `id`; rm -rf / && echo \'"x';
    const first = await commitFiles(project.bareDir, 'main', { 'README.md': 'v1\n' }, hostileMessage);
    const dir = join(work, 'clone');
    await gitOk(['clone', '--quiet', '--', project.cloneUrl, dir]);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('v1\n');
    expect((await gitOk(['-C', dir, 'log', '-1', '--format=%B'])).trim()).toBe(hostileMessage);

    const branch = 'feature/$(whoami);x';
    const second = await commitFiles(project.bareDir, branch, { 'README.md': 'v2\n' }, 'v2');
    await gitOk(['-C', dir, 'fetch', '--quiet', 'origin']);
    expect((await gitOk(['-C', dir, 'rev-parse', `refs/remotes/origin/${branch}`])).trim()).toBe(second);
    expect((await gitOk(['-C', dir, 'rev-parse', 'refs/remotes/origin/main'])).trim()).toBe(first);
    expect(gl.unexpectedCalls()).toEqual([]);
    expect(gl.calls.some((c) => c.path === '/acme/web.git/git-upload-pack' && c.status === 200)).toBe(true);
  });

  it('accepts the token as basic-auth password and rejects a wrong one', async () => {
    await commitFiles(project.bareDir, 'main', { 'a.txt': 'a' }, 'init');
    const withAuth = (password: string): string => project.cloneUrl.replace('http://', `http://oauth2:${password}@`);
    await gitOk(['clone', '--quiet', '--', withAuth(gl.token), join(work, 'ok')]);
    expect(await readFile(join(work, 'ok', 'a.txt'), 'utf8')).toBe('a');
    // git only sends credentials after a challenge, and anonymous reads are allowed, so send them directly.
    const basic = (password: string): Record<string, string> => ({
      Authorization: `Basic ${Buffer.from(`oauth2:${password}`).toString('base64')}`,
    });
    const refs = `${project.cloneUrl}/info/refs?service=git-upload-pack`;
    expect((await fetch(refs, { headers: basic(gl.token) })).status).toBe(200);
    const bad = await fetch(refs, { headers: basic('wrong') });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Basic realm="GitLab"');
  });

  it('refuses anonymous git over HTTP for a private project, as GitLab does, and serves it with the token', async () => {
    const secret = await gl.addProject({ id: 6, pathWithNamespace: 'acme/secret', visibility: 'private' });
    await commitFiles(secret.bareDir, 'main', { 'a.txt': 'private' }, 'init');
    const refs = `${secret.cloneUrl}/info/refs?service=git-upload-pack`;
    const anonymous = await fetch(refs);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="GitLab"');
    // The real git CLI gets the challenge and, with no credentials and no prompt, gives up.
    await expect(gitOk(['clone', '--quiet', '--', secret.cloneUrl, join(work, 'anon')], { env: { GIT_ASKPASS: 'false' } })).rejects.toThrow(
      /Authentication failed|could not read Username/,
    );
    // Any user name with the token as password (GitLab's docs use oauth2).
    for (const user of ['oauth2', 'slipway']) {
      const basic = `Basic ${Buffer.from(`${user}:${gl.token}`).toString('base64')}`;
      expect((await fetch(refs, { headers: { Authorization: basic } })).status).toBe(200);
    }
    const header = `Authorization: Basic ${Buffer.from(`oauth2:${gl.token}`).toString('base64')}`;
    await gitOk(['-c', `http.extraHeader=${header}`, 'clone', '--quiet', '--', secret.cloneUrl, join(work, 'ok')]);
    expect(await readFile(join(work, 'ok', 'a.txt'), 'utf8')).toBe('private');
    // The public project next to it still clones anonymously.
    expect((await fetch(`${project.cloneUrl}/info/refs?service=git-upload-pack`)).status).toBe(200);
    expect(((await api('/projects/6').then((r) => r.json())) as { visibility: string }).visibility).toBe('private');
  });

  it('is read-only: push (receive-pack) is refused and recorded as unexpected', async () => {
    const res = await fetch(`${project.cloneUrl}/info/refs?service=git-receive-pack`);
    expect(res.status).toBe(404);
    expect(gl.unexpectedCalls().map((c) => c.path)).toEqual(['/acme/web.git/info/refs']);
  });
});

describe('API', () => {
  it('enforces auth on every API call, by PRIVATE-TOKEN or Bearer', async () => {
    const none = await api('/projects/5', {}, null);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ message: '401 Unauthorized' });
    expect((await api('/projects/5', {}, 'wrong')).status).toBe(401);
    const bearer = await api('/projects/5', { headers: { Authorization: `Bearer ${gl.token}` } }, null);
    expect(bearer.status).toBe(200);
  });

  it('addresses a project by id or URL-encoded path', async () => {
    const byPath = (await (await api('/projects/acme%2Fweb')).json()) as Record<string, unknown>;
    expect(byPath).toMatchObject({ id: 5, path_with_namespace: 'acme/web', default_branch: 'main', http_url_to_repo: project.cloneUrl });
    const missing = await api('/projects/acme%2Fnope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: '404 Project Not Found' });
  });

  it('records unknown paths and methods as unexpected calls', async () => {
    const res = await api('/projects/5/pipelines');
    expect(res.status).toBe(404);
    await api('/projects/5', { method: 'DELETE' });
    await fetch(`${gl.url}/favicon.ico`);
    expect(gl.unexpectedCalls().map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /api/v4/projects/5/pipelines',
      'DELETE /api/v4/projects/5',
      'GET /favicon.ico',
    ]);
  });

  it('accepts form-encoded status posts and validates state like Grape', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': 'a' }, 'init');
    const form = await api(`/projects/5/statuses/${sha}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ state: 'success', name: 'slipway/lint', coverage: '12.5' }).toString(),
    });
    expect(form.status).toBe(201);
    expect(await form.json()).toMatchObject({ status: 'success', name: 'slipway/lint', ref: 'main', coverage: 12.5 });
    const bad = await api(`/projects/5/statuses/${sha}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'done' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'state does not have a valid value' });
  });

  it('never lets a ref or path reach git as an option or outside the tree', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': 'a' }, 'init');
    const optionRef = await api(`/projects/5/repository/files/a.txt/raw?ref=${encodeURIComponent('--output=/tmp/x')}`);
    expect(optionRef.status).toBe(404);
    const dotdot = await api(`/projects/5/repository/files/${encodeURIComponent('../a.txt')}/raw?ref=${sha}`);
    expect(dotdot.status).toBe(404);
    expect(await dotdot.json()).toEqual({ message: '404 File Not Found' });
  });
});
