import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listFilesAt } from '../../../src/git/git-export.js';

const dir = mkdtempSync(join(tmpdir(), 'slipway-ls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function repo(): { gitDir: string; sha: string } {
  const work = join(dir, 'work');
  mkdirSync(join(work, 'deploy', 'sub'), { recursive: true });
  writeFileSync(join(work, 'deploy', 'app.yml'), 'a');
  writeFileSync(join(work, 'deploy', 'odd name\tx.yaml'), 'b');
  writeFileSync(join(work, 'deploy', 'sub', 'nested.yml'), 'c');
  const git = (...args: string[]) => execFileSync('git', ['-C', work, '-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'x');
  return { gitDir: join(work, '.git'), sha: git('rev-parse', 'HEAD') };
}

describe('listFilesAt', () => {
  it('lists the files directly in a directory at a commit, verbatim, and null for a missing one', async () => {
    const { gitDir, sha } = repo();
    expect((await listFilesAt(gitDir, sha, 'deploy/'))?.sort()).toEqual(['app.yml', 'odd name\tx.yaml']);
    expect(await listFilesAt(gitDir, sha, 'deploy')).toHaveLength(2);
    expect(await listFilesAt(gitDir, sha, 'k8s/')).toBeNull();
    await expect(listFilesAt(gitDir, sha, '../etc')).rejects.toThrow('not a repository directory');
  });
});
