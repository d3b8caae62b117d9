/**
 * Accepting a delivery is one atomic step in Redis, so two concurrent deliveries of one event, or a
 * merge and the push it causes, can never both create a run.
 * KEYS: 1 delivery key, 2 run hash, 3 received zset, 4 all-runs zset, 5 project-runs zset,
 *       6 the project's ref zset, 7 the `received` phase zset,
 *       8 this request's trigger key, 9.. trigger keys of pipelines that already cover it.
 * ARGV: 1 run id, 2 score (ms), 3 ttl seconds, 4 core json, 5 status json.
 * Returns {1, runId} when created, {0, existingRunId} for a duplicate.
 */
export const ACCEPT_SCRIPT = `
local existing = redis.call('GET', KEYS[1])
if existing then return {0, existing} end
for i = 8, #KEYS do
  local covered = redis.call('GET', KEYS[i])
  if covered then
    redis.call('SET', KEYS[1], covered, 'EX', ARGV[3])
    return {0, covered}
  end
end
redis.call('HSET', KEYS[2], 'core', ARGV[4], 'status', ARGV[5], 'jobOrder', '[]', 'deployments', '[]')
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[8], ARGV[1], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[2], ARGV[1])
return {1, ARGV[1]}
`;
