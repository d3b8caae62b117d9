import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { archiveStream, exportTree, syncMirror } from '../../src/git/git-mirror.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { startFakeGitlab } from '../../src/standins/gitlab/gitlab-server.js';
import { fetchBranchHead } from '../../src/git/mirror-revisions.js';
import { uniqueId } from '../helpers/services.js';
import { git } from '../helpers/git-cli.js';
import { prepareWorkTree } from '../../src/jobs/work-tree.js';
import type { JobContext } from '../../src/jobs/context.js';
import type { RunRecord } from '../../src/runs/types.js';
import { mirrorDirName } from '../../src/git/mirror-path.js';

const base = mkdtempSync(join(tmpdir(), 'slipway-git-'));
const originDir = join(base, 'origin.git');
const workDir = join(base, 'work');
const root = join(base, 'mirrors');
const cloneUrl = `file://${originDir}`;
const HOSTILE_BRANCH = 'feature/$(touch${IFS}pwned);rm${IFS}-rf';

function commit(file: string, content: string, branch = 'main'): string {
  writeFileSync(join(workDir, file), content);
  git(workDir, 'add', '--', file);
  git(workDir, 'commit', '-q', '-m', `set ${file}=${content}`);
  git(workDir, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`);
  return git(workDir, 'rev-parse', 'HEAD');
}

const project = (): string => `group/sub/app-${uniqueId()}`;
let first = '';
let second = '';

beforeAll(() => {
  git(base, 'init', '-q', '--bare', '-b', 'main', originDir);
  git(base, 'init', '-q', '-b', 'main', workDir);
  git(workDir, 'remote', 'add', 'origin', originDir);
  first = commit('README.md', 'one');
  second = commit('README.md', 'two');
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('syncMirror (real git)', { timeout: 30_000 }, () => {
  it('clones once, then only fetches into the same mirror', async () => {
    const p = project();
    const a = await syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 });
    expect(a).toMatchObject({ cloned: true });
    expect(a.dir.startsWith(root)).toBe(true);
    writeFileSync(join(a.dir, 'slipway-marker'), 'kept');
    const inode = statSync(a.dir).ino;

    const third = commit('README.md', 'three');
    const b = await syncMirror({ root, project: p, cloneUrl, sha: third, timeoutMs: 20_000 });
    expect(b).toEqual({ dir: a.dir, cloned: false, fetched: true });
    expect(statSync(b.dir).ino).toBe(inode);
    expect(readFileSync(join(b.dir, 'slipway-marker'), 'utf8')).toBe('kept');
  });

  it('does not contact the remote when the sha is already present', async () => {
    const p = project();
    await syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 });
    const away = `${originDir}.away`;
    renameSync(originDir, away); // any network call would now fail
    try {
      const r = await syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 20_000 });
      expect(r).toMatchObject({ cloned: false, fetched: false });
    } finally {
      renameSync(away, originDir);
    }
  });

  it('re-clones a corrupt mirror (broken HEAD, then lost objects)', async () => {
    const p = project();
    const a = await syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 });
    writeFileSync(join(a.dir, 'HEAD'), 'garbage');
    const b = await syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 });
    expect(b.cloned).toBe(true);

    rmSync(join(b.dir, 'objects'), { recursive: true });
    rmSync(join(b.dir, 'packed-refs'), { force: true });
    const next = commit('other.txt', 'x');
    const c = await syncMirror({ root, project: p, cloneUrl, sha: next, timeoutMs: 20_000 });
    expect(c.cloned).toBe(true);
  });

  it('recalls a sha it found in the mirror moments ago (recallWithinMs) without looking again; otherwise looks', async () => {
    const p = project();
    const a = await syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 });
    // A broken HEAD would make any git process fail: the recall starts none.
    writeFileSync(join(a.dir, 'HEAD'), 'garbage');
    expect(await syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000, recallWithinMs: 30_000 })).toEqual({
      dir: a.dir,
      cloned: false,
      fetched: false,
      recalled: true,
    });
    // Another sha, or the same one found longer ago than asked, is looked for (here: the broken mirror is cloned anew).
    const other = await syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 20_000, recallWithinMs: 30_000 });
    expect(other).toMatchObject({ cloned: true });
    expect(other.recalled).toBeUndefined();
    await new Promise((r) => setTimeout(r, 20));
    expect((await syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 20_000, recallWithinMs: 10 })).recalled).toBeUndefined();
    // A mirror removed meanwhile is never recalled.
    rmSync(a.dir, { recursive: true });
    expect(await syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 20_000, recallWithinMs: 30_000 })).toMatchObject({ cloned: true });
  });

  it("a job's work tree comes from a mirror recalled moments ago, and from a checked one when that mirror broke meanwhile", async () => {
    const workspaceDir = join(base, `workspace-${uniqueId()}`);
    const projectPath = `grp/app-${uniqueId()}`;
    git(base, 'clone', '-q', '--bare', originDir, join(base, `${projectPath}.git`));
    const ctx = {
      config: { workspaceDir, gitBaseUrl: `file://${base}`, gitlab: { token: 'unused-for-file-urls' } },
      store: { appendLog: async () => undefined },
    } as unknown as JobContext;
    const run = { id: 'run-1', request: { event: 'push', ref: 'main', sha: second, project: { id: 1, path: projectPath } } } as unknown as RunRecord;
    await prepareWorkTree(ctx, run, join(workspaceDir, 'job-a'));
    expect(readFileSync(join(workspaceDir, 'job-a', 'README.md'), 'utf8')).toBe('two');

    // The next job recalls the sha; the mirror broke in between: it still gets its tree, from a fresh clone.
    const mirrorDir = join(workspaceDir, 'mirrors', mirrorDirName(projectPath));
    writeFileSync(join(mirrorDir, 'HEAD'), 'garbage');
    await prepareWorkTree(ctx, run, join(workspaceDir, 'job-b'));
    expect(readFileSync(join(workspaceDir, 'job-b', 'README.md'), 'utf8')).toBe('two');
    expect(readFileSync(join(mirrorDir, 'HEAD'), 'utf8')).not.toBe('garbage');
  });

  it('serialises concurrent syncs of one project: both succeed, one clone', async () => {
    const p = project();
    const results = await Promise.all([
      syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 20_000 }),
      syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 }),
      syncMirror({ root, project: p, cloneUrl, sha: second, timeoutMs: 20_000 }),
    ]);
    expect(results.filter((r) => r.cloned)).toHaveLength(1);
    expect(existsSync(`${results[0]?.dir}.lock`)).toBe(false);
  });

  it('breaks a stale lock left by a dead process', async () => {
    const p = project();
    const dead = spawnSync('true').pid;
    const { hostname } = await import('node:os');
    const { mirrorDirName } = await import('../../src/git/mirror-path.js');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, `${mirrorDirName(p)}.lock`), JSON.stringify({ pid: dead, host: hostname(), token: 'x' }));
    const r = await syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 5_000 });
    expect(r.cloned).toBe(true);
  });

  it('exports the tree at the given sha, not at HEAD', async () => {
    const { dir } = await syncMirror({ root, project: project(), cloneUrl, sha: first, timeoutMs: 20_000 });
    const dest = join(base, `export-${uniqueId()}`);
    await exportTree({ mirrorDir: dir, sha: first, dest });
    expect(readFileSync(join(dest, 'README.md'), 'utf8')).toBe('one');

    const files = new Map<string, string>();
    const ex = extract();
    archiveStream({ mirrorDir: dir, sha: first }).pipe(ex);
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (entry.header.type === 'file') files.set(entry.header.name, Buffer.concat(chunks).toString('utf8'));
    }
    expect(Object.fromEntries(files)).toEqual({ 'README.md': 'one' });
  });

  it('fails clearly for a sha that is not in the origin, and rejects bad input', async () => {
    const p = project();
    await expect(syncMirror({ root, project: p, cloneUrl, sha: 'f'.repeat(40), timeoutMs: 20_000 })).rejects.toThrow(/commit f{40} not found/);
    await expect(syncMirror({ root, project: p, cloneUrl, sha: 'HEAD', timeoutMs: 1_000 })).rejects.toThrow(/40-hex/);
    await expect(syncMirror({ root, project: '../etc', cloneUrl, sha: first, timeoutMs: 1_000 })).rejects.toThrow(/project path/);
    await expect(syncMirror({ root, project: p, cloneUrl: '--upload-pack=touch', sha: first, timeoutMs: 1_000 })).rejects.toThrow(/must not start/);
  });

  it('handles hostile branch names as plain data', async () => {
    const sha = commit('branch.txt', 'hostile', HOSTILE_BRANCH);
    const { dir } = await syncMirror({ root, project: project(), cloneUrl, sha, timeoutMs: 20_000 });
    expect(git(base, '--git-dir', dir, 'rev-parse', `refs/heads/${HOSTILE_BRANCH}`)).toBe(sha);
    const dest = join(base, `export-${uniqueId()}`);
    await exportTree({ mirrorDir: dir, sha, dest });
    expect(readFileSync(join(dest, 'branch.txt'), 'utf8')).toBe('hostile');
    for (const d of [base, root, dir, process.cwd()]) expect(existsSync(join(d, 'pwned'))).toBe(false);
  });

  it('fetches a private GitLab project with credentials in a header, never in the mirror or an error', async () => {
    const gl = await startFakeGitlab();
    try {
      const secret = await gl.addProject({ id: 1, pathWithNamespace: 'acme/secret', visibility: 'private' });
      const one = await commitFiles(secret.bareDir, 'main', { 'a.txt': 'one' }, 'one');
      const p = project();
      // Anonymous: GitLab's 401, and nothing left behind.
      const anonymous = syncMirror({ root, project: p, cloneUrl: secret.cloneUrl, sha: one, timeoutMs: 20_000 });
      await expect(anonymous).rejects.toThrow(/git clone exit 128: .*(Authentication failed|could not read Username)/);
      const wrong = await syncMirror({
        root,
        project: p,
        cloneUrl: secret.cloneUrl,
        sha: one,
        timeoutMs: 20_000,
        auth: { username: 'oauth2', password: 'wrong-token' },
      }).catch((e: unknown) => e);
      expect(String(wrong)).not.toContain('wrong-token');

      const deniedBefore = gl.calls.filter((c) => c.status === 401).length;
      expect(deniedBefore).toBeGreaterThan(0);
      const auth = { username: 'oauth2', password: gl.token };
      const a = await syncMirror({ root, project: p, cloneUrl: secret.cloneUrl, sha: one, timeoutMs: 20_000, auth });
      expect(a.cloned).toBe(true);
      const two = await commitFiles(secret.bareDir, 'main', { 'a.txt': 'two' }, 'two');
      const b = await syncMirror({ root, project: p, cloneUrl: secret.cloneUrl, sha: two, ref: 'refs/heads/main', timeoutMs: 20_000, auth });
      expect(b).toEqual({ dir: a.dir, cloned: false, fetched: true });
      // The mirror keeps the plain URL: the token lives in no file of it.
      expect(git(base, '--git-dir', a.dir, 'config', 'remote.origin.url')).toBe(secret.cloneUrl);
      expect(readFileSync(join(a.dir, 'config'), 'utf8')).not.toContain(gl.token);
      expect(readFileSync(join(a.dir, 'config'), 'utf8')).not.toContain(Buffer.from(`oauth2:${gl.token}`).toString('base64'));
      // With the header, git never needed a challenge.
      expect(gl.calls.filter((c) => c.status === 401).length).toBe(deniedBefore);
    } finally {
      await gl.close();
    }
  });

  it('fetches a branch head into an existing mirror (a merge request target) and refuses names that are not branches', async () => {
    const p = project();
    await syncMirror({ root, project: p, cloneUrl, sha: first, timeoutMs: 20_000 });
    const target = commit('target.txt', 'moved', 'target-branch');
    expect(await fetchBranchHead({ root, project: p, cloneUrl, branch: 'target-branch', timeoutMs: 20_000 })).toBe(target);
    const hostile = commit('branch.txt', 'hostile target', HOSTILE_BRANCH);
    expect(await fetchBranchHead({ root, project: p, cloneUrl, branch: HOSTILE_BRANCH, timeoutMs: 20_000 })).toBe(hostile);
    for (const bad of ['--upload-pack=touch x', 'a..b', 'main:refs/heads/x', 'x^{commit}']) {
      await expect(fetchBranchHead({ root, project: p, cloneUrl, branch: bad, timeoutMs: 5_000 })).rejects.toThrow(/not a valid branch name/);
    }
    await expect(fetchBranchHead({ root, project: p, cloneUrl, branch: 'no-such-branch', timeoutMs: 20_000 })).rejects.toThrow(/couldn't find remote ref/);
    for (const d of [base, root, process.cwd()]) expect(existsSync(join(d, 'pwned'))).toBe(false);
  });
});
