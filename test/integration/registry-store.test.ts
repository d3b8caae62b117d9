import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreArtifacts, saveArtifacts } from '../../src/caches/artifacts.js';
import { CacheStore } from '../../src/caches/cache-store.js';
import { cacheTag, restoreCaches, saveCaches, type ResolvedCache, type SharedCaches } from '../../src/caches/job-cache.js';
import { RegistryStore } from '../../src/caches/registry-store.js';
import { StoreIndex } from '../../src/caches/store-index.js';
import { sweepExpiredArtifacts } from '../../src/caches/sweep.js';
import { RegistryClient } from '../../src/registry/registry-client.js';

// The retention rules on the real registry and Redis: expired artifacts are deleted by the sweep,
// caches past a project's bound are deleted least recently used first.
describe('artifacts and caches in the registry: retention', () => {
  const registry = process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050';
  const client = new RegistryClient({ registry });
  const suffix = randomBytes(4).toString('hex');
  let redis: Redis;
  let base: string;
  let store: RegistryStore;
  let index: StoreIndex;

  beforeAll(async () => {
    redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    base = await mkdtemp(join(tmpdir(), 'slipway-store-'));
    store = new RegistryStore(client, new CacheStore(join(base, 'local'), 100_000_000), `slipway-test/retention-${suffix}`);
    index = new StoreIndex(redis, `retention-${suffix}`);
  });
  afterAll(async () => {
    const keys = await redis.keys(`retention-${suffix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(base, { recursive: true, force: true });
  });

  const workTree = async (name: string, files: Record<string, string>): Promise<string> => {
    const dir = join(base, name);
    for (const [f, content] of Object.entries(files)) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), content);
    }
    return dir;
  };

  it('deletes artifacts past expire_in in the sweep, keeps the others, and only one sweeper deletes each', async () => {
    const now = Date.now();
    const work = await workTree('work-a', { 'dist/a.txt': 'old', 'dist/b.txt': 'new' });
    const save = (job: string, paths: string[], expireInMs: number | null) =>
      saveArtifacts(
        { store, index },
        { projectId: 7, runId: `run-${suffix}`, jobName: job, workdir: work, paths, exclude: [], expireInMs, nowMs: now - 60_000 },
      );
    const expired = await save('old', ['dist/a.txt'], 1_000);
    const fresh = await save('new', ['dist/b.txt'], 3_600_000);
    const forever = await save('forever', ['dist/'], null);
    if (!expired || !fresh || !forever) throw new Error('nothing saved');
    expect(expired.expiresAt).toBe(new Date(now - 59_000).toISOString());
    expect(forever.expiresAt).toBeUndefined();

    const [first, second] = await Promise.all([sweepExpiredArtifacts(store, index, now), sweepExpiredArtifacts(store, index, now)]);
    expect([...first.deleted, ...second.deleted]).toEqual([`${expired.repository}@${expired.digest}`]);
    expect(first.failed).toEqual([]);

    await expect(client.headManifest(expired.repository, expired.digest)).resolves.toBeUndefined();
    await expect(client.headManifest(fresh.repository, fresh.tag)).resolves.toMatchObject({ digest: fresh.digest });
    await expect(client.headManifest(forever.repository, forever.tag)).resolves.toMatchObject({ digest: forever.digest });

    // The kept ones restore; the expired one fails, naming its job and entry.
    const dest = await workTree('dest', {});
    await restoreArtifacts(store, `run-${suffix}`, [{ job: 'new', artifacts: fresh }], dest);
    expect(await readFile(join(dest, 'dist/b.txt'), 'utf8')).toBe('new');
    await expect(restoreArtifacts(store, `run-${suffix}`, [{ job: 'old', artifacts: expired }], dest)).rejects.toThrow(
      `cannot fetch the artifacts of job 'old' (run run-${suffix}) from ${expired.reference}: registry ${registry}: GET manifest`,
    );
  });

  it("keeps a project's caches under its bound, deleting the least recently used from the registry", async () => {
    let clock = Date.now();
    // Random content: tars do not compress, so three of ~50 kB fit in 160 kB and four do not.
    const payload = () => randomBytes(40_000).toString('base64').slice(0, 40_000);
    const shared: SharedCaches = { store, index, projectId: 8, maxBytes: 160_000, now: () => clock };
    const cache = (key: string): ResolvedCache => ({ cache: { key, keyFiles: [], paths: ['vendor'], policy: 'pull-push', when: 'on_success' }, key });
    const repository = store.repository(8, 'cache');
    for (const k of ['a', 'b', 'c']) {
      clock += 1_000;
      const lines = await saveCaches(shared, [cache(k)], await workTree(`src-${k}`, { 'vendor/f': payload() }), true);
      expect(lines[0]).toMatch(new RegExp(`^cache saved for key ${k}:vendor: \\d+ bytes in \\d+ ms$`));
    }
    clock += 1_000;
    const restored = await restoreCaches(shared, [cache('a')], await workTree('use-a', {}));
    expect(restored[0]).toMatch(/^cache hit for key a:vendor/);

    clock += 1_000;
    const lines = await saveCaches(shared, [cache('d')], await workTree('src-d', { 'vendor/f': payload() }), true);
    expect(lines[0]).toMatch(new RegExp(`evicted ${cacheTag('b:vendor')}$`));
    await expect(client.headManifest(repository, cacheTag('b:vendor'))).resolves.toBeUndefined();
    for (const k of ['a', 'c', 'd']) await expect(client.headManifest(repository, cacheTag(`${k}:vendor`))).resolves.toBeDefined();
    expect(await restoreCaches(shared, [cache('b')], await workTree('use-b', {}))).toEqual(['cache miss for key b:vendor']);
  });

  it('deletes the manifest a cache save replaces instead of leaving it untagged', async () => {
    const shared: SharedCaches = { store, index, projectId: 9, maxBytes: 1_000_000 };
    const cache: ResolvedCache = { cache: { key: 'npm', keyFiles: [], paths: ['vendor'], policy: 'pull-push', when: 'on_success' }, key: 'npm' };
    const repository = store.repository(9, 'cache');
    await saveCaches(shared, [cache], await workTree('first', { 'vendor/f': 'one' }), true);
    const first = await client.headManifest(repository, cacheTag('npm:vendor'));
    await saveCaches(shared, [cache], await workTree('second', { 'vendor/f': 'two' }), true);
    const second = await client.headManifest(repository, cacheTag('npm:vendor'));
    expect(second?.digest).not.toBe(first?.digest);
    await expect(client.headManifest(repository, first?.digest ?? '')).resolves.toBeUndefined();
  });
});
