import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey } from '../../../src/caches/cache-key.js';
import { entryName, entryPath } from '../../../src/caches/cache-path.js';
import { CacheStore, cacheLogLine } from '../../../src/caches/cache-store.js';
import { cacheTag } from '../../../src/caches/job-cache.js';
import { layerOf, STORE_TYPES } from '../../../src/caches/registry-store.js';

let base = '';
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'slipway-cache-'));
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('cacheKey (like cache:key:files)', () => {
  it('changes when a lockfile changes and not when other files do', async () => {
    const work = join(base, 'work');
    await mkdir(work);
    await writeFile(join(work, 'package-lock.json'), '{"v":1}');
    await writeFile(join(work, 'index.js'), 'a');
    const k1 = await cacheKey({ prefix: 'test', files: ['package-lock.json'], workdir: work });
    await writeFile(join(work, 'index.js'), 'b');
    expect(await cacheKey({ prefix: 'test', files: ['package-lock.json'], workdir: work })).toBe(k1);
    await writeFile(join(work, 'package-lock.json'), '{"v":2}');
    const k2 = await cacheKey({ prefix: 'test', files: ['package-lock.json'], workdir: work });
    expect(k2).not.toBe(k1);
    expect(k2).toMatch(/^test-[0-9a-f]{40}$/);
    expect(await cacheKey({ prefix: 'test', files: ['yarn.lock'], workdir: work })).toBe('test-default');
  });

  it('refuses lockfile paths outside the work tree, also through a symlink', async () => {
    const work = join(base, 'work');
    await mkdir(work);
    await writeFile(join(base, 'secret'), 'x');
    await symlink(join(base, 'secret'), join(work, 'lock'));
    await expect(cacheKey({ files: ['../secret'], workdir: work })).rejects.toThrow('outside the work tree');
    await expect(cacheKey({ files: ['lock'], workdir: work })).rejects.toThrow('outside the work tree');
    await expect(cacheKey({ files: ['/etc/passwd'], workdir: work })).rejects.toThrow('must be a relative path');
  });
});

describe('cache entry names', () => {
  it.each(['..', '.', '../../etc/passwd', '/abs/path', 'a/b', 'x'.repeat(500), ' spaces ', '%2F..%2F'])('keeps %j inside the root', (key) => {
    const root = join(base, 'root');
    const path = entryPath(root, key);
    expect(path.startsWith(`${root}/`)).toBe(true);
    expect(path.slice(root.length + 1)).not.toContain('/');
    expect(entryName(key)).not.toMatch(/^\./);
  });

  it('keeps plain keys readable and distinct keys apart', () => {
    expect(entryName('npm-0a1b')).toBe('npm-0a1b.tar');
    expect(entryName('a/b')).not.toBe(entryName('a_b'));
    expect(() => entryName('a\0b')).toThrow('NUL');
    expect(() => entryName('')).toThrow('empty');
  });
});

describe('CacheStore (real file system, GNU tar)', () => {
  async function dir(name: string, files: Record<string, string>): Promise<string> {
    const d = join(base, name);
    for (const [f, content] of Object.entries(files)) {
      await mkdir(join(d, f, '..'), { recursive: true });
      await writeFile(join(d, f), content);
    }
    return d;
  }

  it('misses, saves, then hits with the same content, and says so in the log line', async () => {
    const store = new CacheStore(join(base, 'cache'), 10_000_000);
    const dest = join(base, 'dest');
    const miss = await store.restore({ key: 'npm-abc', dest });
    expect(cacheLogLine(miss)).toBe('cache miss for key npm-abc');
    const src = await dir('src', { 'node_modules/a/index.js': 'module.exports = 1', '.npm/_cacache/x': 'blob' });
    const saved = await store.save({ key: 'npm-abc', src });
    expect(saved.saved).toBe(true);
    expect(cacheLogLine(saved)).toMatch(/^cache saved for key npm-abc: \d+ bytes in \d+ ms$/);
    const hit = await store.restore({ key: 'npm-abc', dest });
    expect(hit.status).toBe('hit');
    expect(cacheLogLine(hit)).toMatch(/^cache hit for key npm-abc: \d+ bytes restored in \d+ ms$/);
    expect(await readFile(join(dest, 'node_modules/a/index.js'), 'utf8')).toBe('module.exports = 1');
    expect(await readFile(join(dest, '.npm/_cacache/x'), 'utf8')).toBe('blob');
  });

  it('falls back to an older key when the exact one is missing', async () => {
    const store = new CacheStore(join(base, 'cache'), 10_000_000);
    await store.save({ key: 'npm-old', src: await dir('src', { f: 'old' }) });
    const r = await store.restore({ key: 'npm-new', fallbackKeys: ['npm-old'], dest: join(base, 'd') });
    expect(r).toMatchObject({ status: 'fallback', restoredKey: 'npm-old' });
    expect(cacheLogLine(r)).toContain('(fallback key npm-old)');
  });

  it('evicts the least recently used entries to stay under the bound, keeping one just restored', async () => {
    const root = join(base, 'cache');
    const payload = 'x'.repeat(40_000);
    const store = new CacheStore(root, 160_000); // room for three entries of ~51 kB (tar blocks), not four
    for (const k of ['a', 'b', 'c']) {
      await store.save({ key: k, src: await dir(`src-${k}`, { f: payload }) });
    }
    // Make the order unambiguous: a oldest, then b, then c; then use a.
    await utimes(join(root, 'a.tar'), new Date(1_000), new Date(1_000));
    await utimes(join(root, 'b.tar'), new Date(2_000), new Date(2_000));
    await utimes(join(root, 'c.tar'), new Date(3_000), new Date(3_000));
    await store.restore({ key: 'a', dest: join(base, 'd') });
    const saved = await store.save({ key: 'd', src: await dir('src-d', { f: payload }) });
    expect(saved.evicted).toEqual(['b']);
    expect((await readdir(root)).sort()).toEqual(['a.tar', 'c.tar', 'd.tar']);
  });

  it('does not store an entry larger than the whole bound, and leaves no temp file', async () => {
    const root = join(base, 'cache');
    const store = new CacheStore(root, 5_000);
    const r = await store.save({ key: 'big', src: await dir('src', { f: 'y'.repeat(20_000) }) });
    expect(r.saved).toBe(false);
    expect(cacheLogLine(r)).toMatch(/^cache not saved for key big: \d+ bytes is more than the cache bound of 5000$/);
    expect(await readdir(root)).toEqual([]);
  });

  it('stores a hostile key under a name inside the root', async () => {
    const root = join(base, 'cache');
    const store = new CacheStore(root, 1_000_000);
    await store.save({ key: '../../escape', src: await dir('src', { f: 'z' }) });
    expect(await readdir(base)).not.toContain('escape.tar');
    expect(await readdir(root)).toEqual([expect.stringMatching(/^escape-[0-9a-f]{16}\.tar$/)]);
    expect((await store.restore({ key: '../../escape', dest: join(base, 'd') })).status).toBe('hit');
  });
});

describe('registry entries of artifacts and caches', () => {
  it.each(['..', 'a/b', 'x'.repeat(500), ' spaces ', '-lead', 'npm-0a1b:.npm'])('makes a valid registry tag of cache key %j', (key) => {
    const tag = cacheTag(key);
    expect(tag).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
    expect(cacheTag(`${key}x`)).not.toBe(tag);
  });

  it('reads the tar layer of its own manifests and refuses anything else pushed over the tag', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const manifest = (over: Record<string, unknown>) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          artifactType: STORE_TYPES.artifacts.artifactType,
          config: { mediaType: STORE_TYPES.artifacts.config, digest, size: 2 },
          layers: [{ mediaType: STORE_TYPES.artifacts.layer, digest, size: 10240 }],
          ...over,
        }),
      );
    expect(layerOf('artifacts', manifest({}))).toEqual({ digest, size: 10240 });
    expect(() => layerOf('cache', manifest({}))).toThrow('not a Slipway cache manifest');
    expect(() =>
      layerOf('artifacts', manifest({ artifactType: undefined, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: 2 } })),
    ).toThrow('not a Slipway artifacts manifest');
    expect(() => layerOf('artifacts', manifest({ layers: [] }))).toThrow('exactly one layer');
  });
});
