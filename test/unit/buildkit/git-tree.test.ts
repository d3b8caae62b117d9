import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobReader, goMode, listTree, mtimeOf, walkOrder, type TreeEntry } from '../../../src/buildkit/git-tree.js';
import { bytes, makeRepo, type TestRepo } from './repo.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from '../../helpers/git-cli.js';

const BASE_NS = 946_684_800n * 1_000_000_000n; // 2000-01-01T00:00:00Z
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

describe('walkOrder', () => {
  it("sorts as Go's filepath.Walk visits: a directory's contents come right after it", () => {
    expect(['a.txt', 'a/x', 'a'].sort(walkOrder)).toEqual(['a', 'a/x', 'a.txt']);
    expect(['b', 'a/b/c', 'a/b', 'a-b', 'a'].sort(walkOrder)).toEqual(['a', 'a/b', 'a/b/c', 'a-b', 'b']);
  });

  it('compares names by UTF-8 bytes, not UTF-16 units or locale', () => {
    // U+FF21 is EF BC A1 in UTF-8, U+1F600 is F0 9F 98 80; in UTF-16 the emoji (D83D …) sorts first.
    expect(['\u{1F600}', '\uFF21', 'é', 'z', 'Z'].sort(walkOrder)).toEqual(['Z', 'z', 'é', '\uFF21', '\u{1F600}']);
  });
});

describe('goMode and mtimeOf', () => {
  it("gives Go's os.FileMode bits, not st_mode", () => {
    expect(goMode({ kind: 'dir', gitMode: '040000' })).toBe(GO_MODE_DIR + 0o755);
    expect(goMode({ kind: 'file', gitMode: '100644' })).toBe(0o644);
    expect(goMode({ kind: 'file', gitMode: '100755' })).toBe(0o755);
    expect(goMode({ kind: 'symlink', gitMode: '120000' })).toBe(GO_MODE_SYMLINK + 0o777);
  });

  it('derives a stable mtime from the content id, so only changed files look changed to the engine', () => {
    const a = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
    const b = '0fedcba9876543210fedcba9876543210fedcba9';
    expect(mtimeOf({ oid: a })).toBe(mtimeOf({ oid: a }));
    expect(mtimeOf({ oid: a })).not.toBe(mtimeOf({ oid: b }));
    // Generated content (no blob): the same rule, by the bytes.
    expect(mtimeOf({ content: Buffer.from('FROM a\n') })).toBe(mtimeOf({ content: Buffer.from('FROM a\n') }));
    expect(mtimeOf({ content: Buffer.from('FROM a\n') })).not.toBe(mtimeOf({ content: Buffer.from('FROM b\n') }));
    for (const t of [mtimeOf({ oid: a }), mtimeOf({ oid: b }), mtimeOf({ oid: 'f'.repeat(40) }), mtimeOf({ content: Buffer.from('x') })]) {
      expect(t >= BASE_NS && t < BASE_NS + 1_000_000_000n, String(t)).toBe(true);
    }
  });
});

describe('listTree and BlobReader (real git)', () => {
  const big = bytes(3 * 1024 * 1024 + 17);
  const text: Record<string, string> = {
    Dockerfile: 'FROM scratch\n',
    'a.txt': 'a file next to a directory named a\n',
    'a/x': 'x\n',
    'app/read me.txt': 'spaces\n',
    'app/src/main.ts': 'console.log(1);\n',
    'données/été.txt': 'unicode ✓\n',
    empty: '',
  };
  let repo: TestRepo;
  let blobs: BlobReader;
  let entries: TreeEntry[];
  const entry = (path: string): TreeEntry => {
    const e = entries.find((x) => x.path === path);
    if (!e) throw new Error(`no entry ${path}`);
    return e;
  };

  beforeAll(async () => {
    repo = makeRepo(
      { ...text, 'big.bin': big, 'run.sh': { exec: '#!/bin/sh\necho hi\n' }, link: { symlink: 'run.sh' } },
      { 'vendor/lib': 'c'.repeat(40) }, // a submodule: `git archive` leaves it out, so do we
    );
    blobs = new BlobReader(repo.gitDir);
    entries = await listTree({ mirrorDir: repo.gitDir, sha: repo.sha, blobs });
  });

  afterAll(() => {
    blobs?.close();
    repo?.cleanup();
  });

  it('lists every entry in walk order (git itself lists a.txt before a/x)', () => {
    expect(entries.map((e) => e.path)).toEqual([
      'Dockerfile',
      'a',
      'a/x',
      'a.txt',
      'app',
      'app/read me.txt',
      'app/src',
      'app/src/main.ts',
      'big.bin',
      'données',
      'données/été.txt',
      'empty',
      'link',
      'run.sh',
      'vendor',
    ]);
  });

  it('reports kinds, sizes, modes and the symlink target', () => {
    for (const [path, content] of Object.entries(text))
      expect(entry(path), path).toMatchObject({ kind: 'file', gitMode: '100644', size: Buffer.byteLength(content) });
    expect(entry('big.bin')).toMatchObject({ kind: 'file', size: big.length });
    expect(entry('run.sh')).toMatchObject({ kind: 'file', gitMode: '100755' });
    expect(goMode(entry('run.sh'))).toBe(0o755);
    expect(entry('link')).toMatchObject({ kind: 'symlink', linkname: 'run.sh', size: 'run.sh'.length });
    for (const d of ['a', 'app', 'app/src', 'données', 'vendor']) expect(entry(d), d).toMatchObject({ kind: 'dir', size: 0 });
  });

  it('lists a subdirectory as the context root', async () => {
    const sub = await listTree({ mirrorDir: repo.gitDir, sha: repo.sha, subdir: 'app', blobs });
    expect(sub.map((e) => e.path)).toEqual(['read me.txt', 'src', 'src/main.ts']);
  });

  it('reads exact bytes, a large blob in bounded chunks, one chunk at a time', async () => {
    for (const [path, content] of Object.entries(text)) expect((await blobs.readAll(entry(path).oid ?? '')).toString('utf8'), path).toBe(content);
    // A slow consumer: the next chunk must wait until the previous one is taken.
    const parts: Buffer[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    await blobs.read(entry('big.bin').oid ?? '', async (chunk) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      parts.push(Buffer.from(chunk));
      await new Promise((r) => setTimeout(r, 2));
      inFlight -= 1;
    });
    expect(maxInFlight).toBe(1);
    expect(parts.length).toBeGreaterThan(1);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(256 * 1024);
    expect(Buffer.concat(parts).equals(big)).toBe(true);
  });

  it('rejects an unknown object clearly and keeps serving the requests queued behind it', async () => {
    const missing = '0123456789abcdef0123456789abcdef01234567';
    const [bad, good, bigAgain] = await Promise.allSettled([
      blobs.readAll(missing),
      blobs.readAll(entry('Dockerfile').oid ?? ''),
      blobs.readAll(entry('big.bin').oid ?? ''),
    ]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(new RegExp(`${missing} is missing from the mirror`)) } });
    expect(good).toEqual({ status: 'fulfilled', value: Buffer.from(text.Dockerfile ?? '') });
    expect(bigAgain.status === 'fulfilled' && bigAgain.value.equals(big)).toBe(true);
    await expect(blobs.readAll('not-an-oid')).rejects.toThrow(/not an object id/);
    expect((await blobs.readAll(entry('a/x').oid ?? '')).toString()).toBe('x\n');
  });
});

describe('listTree with a file name that is not UTF-8', () => {
  it('refuses it by name instead of sending the file renamed', async () => {
    const base = mkdtempSync(join(tmpdir(), 'slipway-latin1-'));
    try {
      git(base, 'init', '-q', '-b', 'main', 'work');
      const work = join(base, 'work');
      writeFileSync(Buffer.concat([Buffer.from(`${work}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin-1 name\n');
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', 'latin-1');
      const blobs = new BlobReader(join(work, '.git'));
      try {
        await expect(listTree({ mirrorDir: join(work, '.git'), sha: git(work, 'rev-parse', 'HEAD'), blobs })).rejects.toThrow(
          /file name "caf\u00e9\.txt" is not UTF-8.*SLIPWAY_IMAGE_BUILDER=classic/,
        );
      } finally {
        blobs.close();
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
