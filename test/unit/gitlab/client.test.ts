import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitlabClient } from '../../../src/gitlab/client.js';
import type { GitlabClient, GitlabClientOptions } from '../../../src/gitlab/client.js';
import { GitlabApiError } from '../../../src/gitlab/errors.js';
import { commitFiles } from '../../../src/standins/gitlab/git-repo.js';
import { startFakeGitlab } from '../../../src/standins/gitlab/gitlab-server.js';
import type { FakeGitlab, FakeProject } from '../../../src/standins/gitlab/gitlab-server.js';

let gl: FakeGitlab;
let project: FakeProject;

// Small backoff so retry tests take milliseconds, not seconds.
const client = (over: Partial<GitlabClientOptions> = {}): GitlabClient =>
  createGitlabClient({ url: gl.url, token: gl.token, backoff: { baseMs: 10, maxMs: 40 }, ...over });

async function failure(p: Promise<unknown>): Promise<GitlabApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitlabApiError);
  return err as GitlabApiError;
}

beforeEach(async () => {
  gl = await startFakeGitlab();
  project = await gl.addProject({ id: 42, pathWithNamespace: 'acme/shop' });
});

afterEach(async () => {
  // Renovate's rule: a request nobody planned for fails the test.
  const unexpected = gl.unexpectedCalls();
  await gl.close();
  expect(unexpected).toEqual([]);
});

describe('setCommitStatus', () => {
  it('posts every field and GitLab records exactly that', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': '1' }, 'init');
    await client().setCommitStatus(42, sha, {
      state: 'running',
      name: 'slipway/test',
      ref: 'main',
      targetUrl: 'https://ci.example/runs/7',
      description: 'tests running',
      coverage: 81.5,
    });
    const [status, ...rest] = gl.statuses(42, sha);
    expect(rest).toEqual([]);
    expect(status).toMatchObject({
      sha,
      status: 'running',
      name: 'slipway/test',
      ref: 'main',
      target_url: 'https://ci.example/runs/7',
      description: 'tests running',
      coverage: 81.5,
    });
    expect(gl.calls.map((c) => [c.method, c.path, c.status])).toEqual([['POST', `/api/v4/projects/42/statuses/${sha}`, 201]]);
  });

  it('treats re-posting the same running state as success (GitLab answers 400)', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': '1' }, 'init');
    const c = client();
    await c.setCommitStatus(42, sha, { state: 'running', name: 'slipway/build', ref: 'main' });
    await c.setCommitStatus(42, sha, { state: 'running', name: 'slipway/build', ref: 'main' });
    await c.setCommitStatus(42, sha, { state: 'success', name: 'slipway/build', ref: 'main' });
    expect(gl.calls.map((c2) => c2.status)).toEqual([201, 400, 201]);
    expect(gl.statuses(42, sha).map((s) => s.status)).toEqual(['running', 'success']);
  });

  it('still reports a real transition error (running back to pending)', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': '1' }, 'init');
    const c = client();
    await c.setCommitStatus(42, sha, { state: 'running', name: 'slipway/build', ref: 'main' });
    const err = await failure(c.setCommitStatus(42, sha, { state: 'pending', name: 'slipway/build', ref: 'main' }));
    expect(err).toMatchObject({ status: 400, retryable: false, attempts: 1 });
    expect(err.message).toContain('Cannot transition status via :enqueue from :running');
  });

  it('fails at once on a commit GitLab does not know', async () => {
    const err = await failure(client().setCommitStatus(42, 'f'.repeat(40), { state: 'pending', name: 'slipway/test' }));
    expect(err).toMatchObject({ status: 404, retryable: false, attempts: 1 });
    expect(err.message).toContain('project 42');
    expect(err.message).toContain('HTTP 404');
  });
});

describe('readFile', () => {
  it('returns the content at the given sha, older content at an older sha, null when missing', async () => {
    const v1 = await commitFiles(project.bareDir, 'main', { 'ci/slipway.yml': 'steps: [old]\n' }, 'v1');
    const v2 = await commitFiles(project.bareDir, 'main', { 'ci/slipway.yml': 'steps: [new]\n' }, 'v2');
    const c = client();
    expect(await c.readFile(42, 'ci/slipway.yml', v2)).toBe('steps: [new]\n');
    expect(await c.readFile(42, 'ci/slipway.yml', v1)).toBe('steps: [old]\n');
    expect(await c.readFile(42, 'ci/missing.yml', v2)).toBeNull();
  });

  it('throws (not null) when the project is missing, so a typo is not read as "no config"', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': '1' }, 'init');
    const err = await failure(client().readFile(999, 'a.txt', sha));
    expect(err).toMatchObject({ status: 404, retryable: false });
    expect(err.message).toContain('404 Project Not Found');
  });
});

describe('upsertMergeRequestNote', () => {
  it('posts once, then edits the same note', async () => {
    const c = client();
    const first = await c.upsertMergeRequestNote(42, 3, 'summary', 'build running');
    const second = await c.upsertMergeRequestNote(42, 3, 'summary', 'build passed');
    expect(second.noteId).toBe(first.noteId);
    const notes = gl.notes(42, 3);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.body).toBe('<!-- slipway:summary -->\nbuild passed');
    expect(gl.calls.filter((x) => x.method !== 'GET').map((x) => `${x.method} ${x.status}`)).toEqual(['POST 201', 'PUT 200']);
  });

  it('finds its note past the first page and ignores a reviewer quoting the marker', async () => {
    const c = client();
    // Older than ours, so picking "the oldest note with the marker" alone would edit the wrong one.
    gl.seedNote(42, 3, '<!-- slipway:summary -->\nfake summary by someone else', 77);
    const { noteId } = await c.upsertMergeRequestNote(42, 3, 'summary', 'v1');
    for (let i = 0; i < 120; i += 1) gl.seedNote(42, 3, `comment ${i}`, 77);
    const again = await c.upsertMergeRequestNote(42, 3, 'summary', 'v2');
    expect(again.noteId).toBe(noteId);
    expect(gl.notes(42, 3).filter((n) => n.author.id === gl.currentUser.id)).toHaveLength(1);
    expect(gl.notes(42, 3).find((n) => n.author.id === 77 && n.body.includes('slipway:summary'))?.body).toContain('someone else');
  });

  it('keeps separate notes per marker and refuses markers that could close the comment', async () => {
    const c = client();
    const a = await c.upsertMergeRequestNote(42, 3, 'summary', 'x');
    const b = await c.upsertMergeRequestNote(42, 3, 'deploy:pre', 'y');
    expect(a.noteId).not.toBe(b.noteId);
    await expect(c.upsertMergeRequestNote(42, 3, 'x --> <img>', 'z')).rejects.toThrow(/invalid note marker/);
  });
});

describe('memberAccessLevel', () => {
  it('returns the access level, or null for a non-member', async () => {
    gl.setMember(42, 7, 40);
    const c = client();
    expect(await c.memberAccessLevel(42, 7)).toBe(40);
    expect(await c.memberAccessLevel(42, 8)).toBeNull();
    expect(gl.calls.map((x) => x.path)).toEqual(['/api/v4/projects/42/members/all/7', '/api/v4/projects/42/members/all/8']);
  });
});

describe('groupMemberAccessLevel', () => {
  it('returns the access level in a group named by path, null for a non-member, and throws for a missing group', async () => {
    gl.setGroupMember('team/release-managers', 7, 30);
    const c = client();
    expect(await c.groupMemberAccessLevel('team/release-managers', 7)).toBe(30);
    expect(await c.groupMemberAccessLevel('team/release-managers', 8)).toBeNull();
    const err = await failure(c.groupMemberAccessLevel('team/nobody', 7));
    expect(err).toMatchObject({ status: 404, retryable: false });
    expect(gl.calls.map((x) => [x.path, x.query])).toEqual([
      ['/api/v4/groups/team%2Frelease-managers/members/all/7', {}],
      ['/api/v4/groups/team%2Frelease-managers/members/all/8', {}],
      ['/api/v4/groups/team%2Fnobody/members/all/7', {}],
    ]);
  });
});

describe('userOfToken', () => {
  it("asks GitLab who owns a person's token, with that token and not Slipway's", async () => {
    const alice = gl.addUser({ id: 77, username: 'alice' });
    expect(await client().userOfToken(alice.token)).toEqual({ id: 77, username: 'alice' });
    expect(gl.calls.map((x) => [x.method, x.path, x.status])).toEqual([['GET', '/api/v4/user', 200]]);
  });

  it('a token GitLab refuses is a 401 that never names the token', async () => {
    const err = await failure(client().userOfToken('glpat-not-a-real-one'));
    expect(err).toMatchObject({ status: 401, retryable: false, attempts: 1 });
    expect(err.message).not.toContain('glpat');
  });
});

describe('mergeRequestAuthor', () => {
  it('returns the author of a merge request, null when GitLab does not know it', async () => {
    gl.addUser({ id: 51, username: 'bob' });
    gl.addMergeRequest(42, { iid: 3, authorId: 51 });
    const c = client();
    expect(await c.mergeRequestAuthor(42, 3)).toEqual({ id: 51, username: 'bob' });
    expect(await c.mergeRequestAuthor(42, 4)).toBeNull();
  });
});

describe('failures', () => {
  it('a wrong token gives a clear, non-retryable error without the token in it', async () => {
    const err = await failure(client({ token: 'glpat-wrong-secret' }).memberAccessLevel(42, 7));
    expect(err).toMatchObject({ status: 401, retryable: false, attempts: 1, kind: 'http' });
    expect(err.message).toBe('GitLab get member access level for project 42 failed: HTTP 401 (401 Unauthorized) after 1 attempt');
    expect(err.message).not.toContain('glpat');
    expect(gl.calls).toHaveLength(1);
  });

  it('retries through two 500s and succeeds', async () => {
    gl.setMember(42, 7, 30);
    gl.failNext({ pathIncludes: '/members/all/7' }, 500, 2);
    expect(await client().memberAccessLevel(42, 7)).toBe(30);
    expect(gl.calls.map((c) => c.status)).toEqual([500, 500, 200]);
  });

  it('gives up after the bounded number of attempts on a persistent 503', async () => {
    gl.failNext({ pathIncludes: '/statuses/' }, 503, 100);
    const err = await failure(client({ retries: 2 }).setCommitStatus(42, 'a'.repeat(40), { state: 'pending', name: 'x' }));
    expect(err).toMatchObject({ status: 503, retryable: true, attempts: 3 });
    expect(gl.calls).toHaveLength(3);
  });

  it('waits as long as Retry-After says on a 429', async () => {
    gl.setMember(42, 7, 50);
    gl.failNext({ method: 'GET', pathIncludes: '/members/' }, 429, 1, { headers: { 'Retry-After': '1' } });
    expect(await client().memberAccessLevel(42, 7)).toBe(50);
    const [limited, ok] = gl.calls;
    expect([limited?.status, ok?.status]).toEqual([429, 200]);
    // Backoff alone would have waited <= 10 ms; the gap comes from Retry-After.
    expect((ok?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('does not block on a Retry-After beyond its limit: fails retryable with the wait', async () => {
    gl.failNext({ pathIncludes: '/members/' }, 429, 1, { headers: { 'Retry-After': '3600' } });
    const err = await failure(client().memberAccessLevel(42, 7));
    expect(err).toMatchObject({ status: 429, retryable: true, retryAfterMs: 3_600_000, attempts: 1 });
  });

  it('times out a hanging request within the configured timeout', async () => {
    gl.hangNext({ pathIncludes: '/members/' }, 1);
    const started = Date.now();
    const err = await failure(client({ timeoutMs: 300, retries: 0 }).memberAccessLevel(42, 7));
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ kind: 'timeout', status: null, retryable: true, attempts: 1 });
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1500);
  });

  it('retries after a timeout and then succeeds', async () => {
    gl.setMember(42, 7, 40);
    gl.hangNext({ pathIncludes: '/members/' }, 1);
    expect(await client({ timeoutMs: 200, retries: 1 }).memberAccessLevel(42, 7)).toBe(40);
    expect(gl.calls.map((c) => c.status)).toEqual([null, 200]);
  });
});

describe('deployments', () => {
  it('creates a deployment (GitLab makes the environment) and moves its status; the same status twice is a success', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': '1' }, 'init');
    const c = client();
    const { deploymentId } = await c.createDeployment(42, { environment: 'pre', sha, ref: 'main', tag: false, status: 'running' });
    await c.setDeploymentStatus(42, deploymentId, 'success');
    // A retried PUT that had landed: GitLab refuses success → success with a 400; the client reads it back.
    await c.setDeploymentStatus(42, deploymentId, 'success');
    expect(gl.deployments(42)).toMatchObject([
      { id: deploymentId, sha, ref: 'main', environment: { name: 'pre' }, status: 'success', statusHistory: ['running', 'success'] },
    ]);
    // A transition GitLab refuses (back to running) is an error naming the call.
    const err = await failure(c.setDeploymentStatus(42, deploymentId, 'running'));
    expect(err.status).toBe(400);
    expect(err.message).toContain(`set deployment ${deploymentId} running`);
  });

  it('a ref that does not exist is refused with the validation errors GitLab sends', async () => {
    const sha = await commitFiles(project.bareDir, 'main', { 'a.txt': '1' }, 'init');
    const err = await failure(client().createDeployment(42, { environment: 'pre', sha, ref: 'no-such-branch', tag: false, status: 'running' }));
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(gl.deployments(42)).toEqual([]);
  });
});
