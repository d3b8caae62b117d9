import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedRedis } from '../../src/embedded/redis-server.js';

describe('the embedded Redis (no REDIS_URL)', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'slipway-redis-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('runs durable (fsync on every write) and never evicts queue keys', async () => {
    const redis = await startEmbeddedRedis(tempDir(), () => undefined);
    const c = new Redis({ path: redis.socketPath });
    try {
      expect(await c.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
      expect(await c.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await c.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      c.disconnect();
      await redis.stop();
    }
  });

  it('keeps what it acknowledged across a restart', async () => {
    const dir = tempDir();
    const first = await startEmbeddedRedis(dir, () => undefined);
    const c = new Redis({ path: first.socketPath });
    await c.set('accepted', 'event-1');
    c.disconnect();
    await first.stop();
    const second = await startEmbeddedRedis(dir, () => undefined);
    const d = new Redis({ path: second.socketPath });
    try {
      expect(await d.get('accepted')).toBe('event-1');
    } finally {
      d.disconnect();
      await second.stop();
    }
  });

  it('names the Debian package when redis-server is missing', async () => {
    const saved = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await expect(startEmbeddedRedis(tempDir(), () => undefined)).rejects.toThrow('install the Debian package redis-server');
    } finally {
      process.env['PATH'] = saved;
    }
  });
});
