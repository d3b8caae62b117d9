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

export function connectRedis(target: RedisTarget, mode: 'worker' | 'fail-fast', onError: (err: Error) => void): Redis {
  const opts = redisOptions(target, mode);
  const redis = 'url' in target ? new Redis(target.url, opts) : new Redis(opts);
  // ioredis reconnects by itself; errors are reported, not thrown (an unhandled 'error' event would crash).
  let last = '';
  redis.on('error', (err: Error) => {
    if (err.message !== last) onError(err);
    last = err.message;
  });
  redis.on('ready', () => {
    last = '';
  });
  return redis;
}

/** Resolves when the connection is ready, so the first webhook does not meet a connecting client. */
export async function whenReady(redis: Redis, timeoutMs = 15_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
