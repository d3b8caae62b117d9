import type { Cluster, Redis } from 'ioredis';

/**
 * KEYS[1] holders zset (member = holder id, score = expiry ms). ARGV: now, limit, holder, expiry.
 * Expired holders (a crashed worker) are dropped first, so a slot is never lost for good.
 * Returns {1, count} when held (or already held by this holder), {0, count} when full.
 */
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  return {1, redis.call('ZCARD', KEYS[1])}
end
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then return {0, count} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(ARGV[4]) - tonumber(ARGV[1])))
return {1, count + 1}
`;

export interface SlotRequest {
  key: string;
  limit: number;
  /** Said to the user while waiting: "project team/app has 4 build jobs running (limit 4)". */
  describe: (running: number) => string;
}

/**
 * Counting semaphores in Redis for limits that span worker processes (per project, global,
 * resource groups). All slots are taken together or none, so two jobs cannot each hold half.
 */
export async function acquireSlots(
  redis: Redis | Cluster,
  holder: string,
  requests: readonly SlotRequest[],
  ttlMs: number,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const taken: string[] = [];
  for (const r of requests) {
    const now = Date.now();
    const [ok, count] = (await redis.eval(ACQUIRE, 1, r.key, now, r.limit, holder, now + ttlMs)) as [number, number];
    if (ok !== 1) {
      for (const key of taken) await redis.zrem(key, holder);
      return { ok: false, reason: `waiting: ${r.describe(count)}` };
    }
    taken.push(r.key);
  }
  return { ok: true };
}

export async function releaseSlots(redis: Redis | Cluster, holder: string, keys: readonly string[]): Promise<void> {
  for (const key of keys) await redis.zrem(key, holder);
}
