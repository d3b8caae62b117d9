import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisAddress {
  host: string;
  port: number;
}

/**
 * Where Slipway's Redis is: one server (URL or the embedded one's socket), the master a Sentinel
 * group names, or a Redis Cluster (any of its nodes; ioredis learns the slots from them).
 */
export type RedisTarget =
  | { url: string }
  | { path: string }
  | { sentinels: RedisAddress[]; name: string; password: string | undefined }
  | { cluster: RedisAddress[]; password: string | undefined };

/** A connection to any of those: ioredis' `Cluster` speaks the same commands and BullMQ takes both. */
export type RedisClient = Redis | Cluster;

export type ConnectionMode = 'worker' | 'fail-fast';

/** Names the target in messages, never with its URL (which may carry a password). */
export function describeTarget(target: RedisTarget): string {
  if ('url' in target) return 'the Redis at REDIS_URL';
  if ('path' in target) return 'the embedded Redis';
  if ('sentinels' in target) return `the master '${target.name}' of SLIPWAY_REDIS_SENTINELS`;
  return 'the Redis Cluster at SLIPWAY_REDIS_CLUSTER';
}

/**
 * Two kinds of connection: workers block on Redis and must retry forever (BullMQ requires
 * maxRetriesPerRequest: null); the webhook path must fail fast (no offline queue) so GitLab gets
 * a 503 instead of a hanging request when Redis is down.
 */
export function redisOptions(target: RedisTarget, mode: ConnectionMode): RedisOptions {
  const base: RedisOptions = 'path' in target ? { path: target.path } : {};
  if ('sentinels' in target) {
    Object.assign(base, {
      sentinels: target.sentinels,
      name: target.name,
      role: 'master',
      // No failoverDetector: with it, the fail-fast connection ended for good after a master was
      // killed in 2 of 4 runs of test/integration/redis-topologies.test.ts (never without it); the
      // dead master's socket closing is what makes ioredis ask the sentinels again.
      // A master demoted to replica answers writes with READONLY: reconnect (through the sentinels,
      // to the new master) and send the command again there.
      reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
      ...(target.password ? { password: target.password } : {}),
    } satisfies RedisOptions);
  }
  if ('cluster' in target && target.password) base.password = target.password;
  if (mode === 'worker') return { ...base, maxRetriesPerRequest: null };
  return { ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 5_000 };
}

/** Opens a client for the target; its readiness is awaited with whenReady. */
export function createRedisClient(target: RedisTarget, mode: ConnectionMode): RedisClient {
  const opts = redisOptions(target, mode);
  if ('cluster' in target) {
    // Offline queue off for fail-fast: a webhook meets "not connected" at once (503), as with one server.
    // A command that meets a failover (CLUSTERDOWN, MOVED after a promotion) is retried within ioredis' redirection limit.
    // The slot map is also refreshed every 5 s, each refresh allowed 5 s. ioredis' defaults refresh only
    // on an error or a redirection and give CLUSTER SLOTS 1 s to answer, which a busy node can miss;
    // once in CI (2 busy cores) webhooks were still refused 90 s after a failover.
    return new Cluster(target.cluster, {
      redisOptions: opts,
      enableOfflineQueue: mode === 'worker',
      retryDelayOnClusterDown: 200,
      retryDelayOnFailover: 200,
      slotsRefreshInterval: 5_000,
      slotsRefreshTimeout: 5_000,
    });
  }
  return 'url' in target ? new Redis(target.url, opts) : new Redis(opts);
}

export function connectRedis(target: RedisTarget, mode: ConnectionMode, onError: (err: Error) => void): RedisClient {
  const redis = createRedisClient(target, mode);
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
export async function whenReady(redis: RedisClient, timeoutMs = 15_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
