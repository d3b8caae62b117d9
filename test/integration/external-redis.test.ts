import { afterEach, describe, expect, it } from 'vitest';
import { startRedisProcess, type RedisProcess } from '../helpers/redis-process.js';
import { startHarness, type Harness } from '../helpers/slipway-harness.js';

// Issue 10, bug 9: with REDIS_URL, Slipway reads the server's settings at start and refuses one
// that may lose acknowledged events or evict keys, unless told to accept weaker durability.
describe('an external Redis (REDIS_URL) is checked at start', () => {
  const redises: RedisProcess[] = [];
  const harnesses: Harness[] = [];
  const password = 'redis-pass-never-printed';
  const durable = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'];
  const redis = async (args: string[]) => {
    const r = await startRedisProcess(args, { password });
    redises.push(r);
    return r;
  };
  const start = async (r: RedisProcess, env: Record<string, string> = {}) => {
    const h = await startHarness({ roles: ['http'], env: { REDIS_URL: r.url, ...env } });
    harnesses.push(h);
    return h;
  };
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
    for (const r of redises.splice(0)) await r.stop();
  });

  it('refuses a Redis with the defaults, naming each wrong setting and its fix', async () => {
    // Debian's defaults: no AOF, fsync every second; and a cache-style eviction policy.
    const r = await redis(['--appendonly', 'no', '--appendfsync', 'everysec', '--maxmemory-policy', 'allkeys-lru']);
    const err = await start(r).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    const message = err?.message ?? '';
    expect(message).toContain("appendonly is 'no': set appendonly yes");
    expect(message).toContain("appendfsync is 'everysec': set appendfsync always");
    expect(message).toContain("maxmemory-policy is 'allkeys-lru': set maxmemory-policy noeviction");
    expect(message).toContain('SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY=true');
    expect(message).not.toContain(password);
  });

  it('names only what is wrong', async () => {
    const r = await redis(['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction']);
    const message = await start(r).then(
      () => '',
      (e: unknown) => (e as Error).message,
    );
    expect(message).toContain("appendfsync is 'everysec'");
    expect(message).not.toContain('appendonly is');
    expect(message).not.toContain('maxmemory-policy is');
  });

  it('starts on a durable Redis and says nothing', async () => {
    const h = await start(await redis(durable));
    expect(await (await fetch(`${h.url}/readyz`)).json()).toEqual({ ok: true });
    expect(h.logs.some((l) => l.includes('durability'))).toBe(false);
  });

  it('accepts weaker durability when told to, and /readyz and the logs say so', async () => {
    const r = await redis(['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'allkeys-lru']);
    const h = await start(r, { SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: 'true' });
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { ok: boolean; warnings?: string[] };
    expect(body.ok).toBe(true);
    expect(body.warnings).toEqual([
      "redis durability accepted as weak (SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY=true): appendfsync is 'everysec': set appendfsync always",
      "redis durability accepted as weak (SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY=true): maxmemory-policy is 'allkeys-lru': set maxmemory-policy noeviction",
    ]);
    const warning = h.logs.find((l) => l.includes('redis durability is weaker than Slipway needs'));
    expect(warning).toContain('"level":40');
    expect(warning).toContain("appendfsync is 'everysec'");
    expect(h.logs.join('\n')).not.toContain(password);
  });

  it('when CONFIG is renamed or disabled: says so and requires the explicit setting', async () => {
    const r = await redis([...durable, '--rename-command', 'CONFIG', '']);
    const message = await start(r).then(
      () => '',
      (e: unknown) => (e as Error).message,
    );
    expect(message).toContain("cannot read the Redis server's settings (CONFIG GET");
    expect(message).toContain('renamed or disabled');
    expect(message).toContain('SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY=true');

    const h = await start(r, { SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: 'true' });
    const body = (await (await fetch(`${h.url}/readyz`)).json()) as { ok: boolean; warnings?: string[] };
    expect(body.ok).toBe(true);
    expect(body.warnings?.[0]).toMatch(/^redis durability not verified \(SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY=true\): cannot read the Redis server's settings/);
  });
});
