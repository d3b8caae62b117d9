import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { git } from '../../helpers/git-cli.js';

/** A file of the test repository: content, optionally executable, or a symlink target. */
export type RepoFile = string | Buffer | { exec: string } | { symlink: string };

export interface TestRepo {
  /** The bare repository, standing in for Slipway's mirror. */
  gitDir: string;
  sha: string;
  cleanup(): void;
}

/** One commit holding `files` (and `gitlinks`, submodule entries), cloned into a bare repository. */
export function makeRepo(files: Record<string, RepoFile>, gitlinks: Record<string, string> = {}): TestRepo {
  const base = mkdtempSync(join(tmpdir(), 'slipway-buildkit-'));
  const work = join(base, 'work');
  git(base, 'init', '-q', '-b', 'main', work);
  for (const [path, f] of Object.entries(files)) {
    const abs = join(work, path);
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof f === 'object' && 'symlink' in f) symlinkSync(f.symlink, abs);
    else if (typeof f === 'object' && 'exec' in f) {
      writeFileSync(abs, f.exec);
      chmodSync(abs, 0o755);
    } else writeFileSync(abs, f);
  }
  git(work, 'add', '-A');
  for (const [path, sha] of Object.entries(gitlinks)) git(work, 'update-index', '--add', '--cacheinfo', `160000,${sha},${path}`);
  git(work, 'commit', '-q', '-m', 'fixture');
  const gitDir = join(base, 'mirror.git');
  git(base, 'clone', '-q', '--bare', work, gitDir);
  return { gitDir, sha: git(work, 'rev-parse', 'HEAD'), cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes: unlike a repeating pattern, a dropped, doubled or shifted chunk cannot compare equal. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
