/**
 * Accepting a delivery is one atomic step in Redis, so two concurrent deliveries of one event, or a
 * merge and the push it causes, can never both create a run. For a webhook it is also the only
 * Redis round trip before the 202: the same script puts the run on the plan feed (a list the
 * planner role's feed moves into BullMQ, queues/plan-feed.ts) and records that the project sent a
 * webhook (the reconciler's view, project-watch.ts).
 * KEYS: 1 delivery key, 2 run hash, 3 received zset, 4 all-runs zset, 5 project-runs zset,
 *       6 the project's ref zset, 7 the `received` phase zset, 8 plan feed list, 9 known-projects
 *       set, 10 the project's watch hash, 11 this request's trigger key, 12.. trigger keys of
 *       pipelines that already cover it (all of them are looked up: the request's own first).
 * ARGV: 1 run id, 2 score (ms), 3 ttl seconds, 4 core json, 5 status json,
 *       6 '1': put the run on the plan feed (a duplicate too, while it is still "received": a resend
 *          of a delivery stored but never queued), '0': the caller queues it,
 *       7 the project ref json when a webhook brought it (else ''), 8 the project id.
 * Returns {1, runId} when created, {0, existingRunId} for a duplicate.
 */
export const ACCEPT_SCRIPT = `
local function seen()
  if ARGV[7] == '' then return end
  redis.call('SADD', KEYS[9], ARGV[8])
  redis.call('HSETNX', KEYS[10], 'firstSeenAt', ARGV[2])
  redis.call('HSET', KEYS[10], 'lastWebhookAt', ARGV[2], 'ref', ARGV[7])
end
local function duplicate(id)
  seen()
  if ARGV[6] == '1' and redis.call('ZSCORE', KEYS[3], id) then redis.call('RPUSH', KEYS[8], id) end
  return {0, id}
end
local existing = redis.call('GET', KEYS[1])
if existing then return duplicate(existing) end
for i = 11, #KEYS do
  local covered = redis.call('GET', KEYS[i])
  if covered then
    redis.call('SET', KEYS[1], covered, 'EX', ARGV[3])
    return duplicate(covered)
  end
end
redis.call('HSET', KEYS[2], 'core', ARGV[4], 'status', ARGV[5], 'jobOrder', '[]', 'deployments', '[]')
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[11], ARGV[1], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[2], ARGV[1])
if ARGV[6] == '1' then redis.call('RPUSH', KEYS[8], ARGV[1]) end
seen()
return {1, ARGV[1]}
`;
