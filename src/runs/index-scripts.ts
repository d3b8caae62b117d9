/**
 * A run's status and its phase index change in one step.
 * KEYS: 1 all-runs zset (the run's creation time is its score there), 2 run hash,
 *       3 the received zset (runs the planner has not picked up), 4..n-1 the other phases' zsets,
 *       n the new phase's zset.
 * ARGV: 1 run id, 2 status json, 3 '1' when the run leaves the received zset.
 */
export const SET_STATUS_SCRIPT = `
redis.call('HSET', KEYS[2], 'status', ARGV[2])
if ARGV[3] == '1' then redis.call('ZREM', KEYS[3], ARGV[1]) end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score then
  for i = 4, #KEYS - 1 do redis.call('ZREM', KEYS[i], ARGV[1]) end
  redis.call('ZADD', KEYS[#KEYS], score, ARGV[1])
end
return 1
`;

/**
 * Log lines by absolute index. The list keeps the newest lines; the counter says how many were
 * ever appended (a log written before the counter existed counts its list's length).
 * KEYS: 1 log list, 2 log counter. ARGV: 1 first absolute index wanted, 2 most lines.
 * Returns {first kept index, total appended, lines}.
 */
export const LOG_WINDOW_SCRIPT = `
local len = redis.call('LLEN', KEYS[1])
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
if total < len then total = len end
local first = total - len
local from = tonumber(ARGV[1])
local start = from - first
if start < 0 then start = 0 end
local lines = {}
if start < len then lines = redis.call('LRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1) end
return {first, total, lines}
`;

/**
 * A job's record rewritten in one round trip, if it is still what the caller computed the new
 * record from (compare and set): the caller's copy is the one this process last read or wrote, so
 * a phase change usually needs no read first. When another writer changed the field meanwhile,
 * nothing is written and the current value comes back for the caller to compute from again.
 * KEYS: 1 run hash, 2 the approvals-waiting zset.
 * ARGV: 1 the job's field, 2 the value the new one was computed from, 3 the new value,
 *       4 '1' when the job leaves the approvals-waiting zset, 5 its member there.
 * Returns {1} when written, {0, current value} when the field had changed, {-1} when there is no such job.
 */
export const REWRITE_JOB_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return {-1} end
if cur ~= ARGV[2] then return {0, cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '1' then redis.call('ZREM', KEYS[2], ARGV[5]) end
return {1}
`;
