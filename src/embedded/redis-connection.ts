import { Redis, type RedisOptions } from 'ioredis';

export type RedisTarget = { url: string } | { path: string };

/**
 * Two kinds of connection: workers block on Redis and must retry forever (BullMQ requires
 * maxRetriesPerRequest: null); the webhook path must fail fast (no offline queue) so GitLab gets
 * a 503 instead of a hanging request when Redis is down.
 */
export function redisOptions(target: RedisTarget, mode: 'worker' | 'fail-fast'): RedisOptions {
  const base: RedisOptions = 'path' in target ? { path: target.path } : {};
  if (mode === 'worker') return { ...base, maxRetriesPerRequest: null };
  return { ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 5_000 };
}

export function connectRedis(target: RedisTarget, mode: 'worker' | 'fail-fast'): Redis {
  const opts = redisOptions(target, mode);
  return 'url' in target ? new Redis(target.url, opts) : new Redis(opts);
}
