import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** Deletes the key only if it still holds our token: a lock that expired and was retaken stays. */
export const RELEASE_IF_HOLDER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A short mutual-exclusion lock in Redis for read-decide-write steps that several workers may run
 * at once (two jobs of one run finishing together). It expires by itself if its holder dies.
 */
export async function withRedisLock<T>(redis: Redis | Cluster, key: string, fn: () => Promise<T>, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<T> {
  const token = randomUUID();
  const ttl = opts.ttlMs ?? 30_000;
  const deadline = Date.now() + (opts.waitMs ?? 60_000);
  while ((await redis.set(key, token, 'PX', ttl, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new Error(`lock ${key} still held after ${opts.waitMs ?? 60_000} ms`);
    await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
  }
  try {
    return await fn();
  } finally {
    await redis.eval(RELEASE_IF_HOLDER, 1, key, token);
  }
}
