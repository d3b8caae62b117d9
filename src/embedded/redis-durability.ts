import { Redis } from 'ioredis';
import { PermanentError } from '../errors/errors.js';
import { redisOptions, whenReady, type RedisTarget } from './redis-connection.js';

/** The setting that lets Slipway run on a Redis weaker than it needs (documented in docs/configuration.md). */
export const ACCEPT_WEAK_DURABILITY = 'SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY';

/**
 * What Slipway needs of any Redis, and why: a webhook is answered 202 only after Redis
 * acknowledged it, so the write must be on disk by then (AOF, fsync on every write), and BullMQ's
 * queue keys and the run records must never be evicted under memory pressure.
 */
const REQUIRED = [
  { name: 'appendonly', want: 'yes' },
  { name: 'appendfsync', want: 'always' },
  { name: 'maxmemory-policy', want: 'noeviction' },
] as const;

export type RedisSettings = Partial<Record<(typeof REQUIRED)[number]['name'], string>>;

/** Pure: one line per wrong setting, naming what it is and the fix. */
export function durabilityProblems(settings: RedisSettings): string[] {
  return REQUIRED.filter((r) => settings[r.name] !== r.want).map((r) => `${r.name} is '${settings[r.name] ?? 'unknown'}': set ${r.name} ${r.want}`);
}

/**
 * Reads the server's settings with CONFIG GET (on a connection of its own, with timeouts) and
 * refuses a Redis that may lose acknowledged events or evict keys, naming each wrong setting and its
 * fix. With `acceptWeak` it returns the same findings as warnings instead, for /readyz and the logs.
 * A server where CONFIG is renamed, disabled or not permitted (managed Redis) cannot be checked:
 * refused unless `acceptWeak`. Never prints the URL (it may carry a password).
 */
export async function checkRedisDurability(target: RedisTarget, acceptWeak: boolean): Promise<string[]> {
  const redis = 'url' in target ? new Redis(target.url, redisOptions(target, 'fail-fast')) : new Redis(redisOptions(target, 'fail-fast'));
  let lastError = '';
  redis.on('error', (err: Error) => {
    lastError = err.message;
  });
  const settings: RedisSettings = {};
  try {
    // Same patience as the connections Slipway then opens: ioredis retries until the deadline.
    await whenReady(redis, 15_000).catch(() => {
      throw new PermanentError(`redis at REDIS_URL not ready after 15 s${lastError ? `: ${lastError}` : ''}`);
    });
    for (const { name } of REQUIRED) {
      const pair = (await redis.config('GET', name)) as string[];
      if (pair[1] !== undefined) settings[name] = pair[1]; // absent: reported as 'unknown'
    }
  } catch (err) {
    // Only an answer from the server (ioredis' ReplyError) means CONFIG is unavailable; anything else is not about durability.
    if (!(err instanceof Error) || err.name !== 'ReplyError') throw err;
    const unreadable = `cannot read the Redis server's settings (CONFIG GET answered: ${err.message}); CONFIG is renamed or disabled, or this user may not run it, so Slipway cannot check that acknowledged events reach disk and keys are never evicted`;
    if (acceptWeak) return [`redis durability not verified (${ACCEPT_WEAK_DURABILITY}=true): ${unreadable}`];
    throw new PermanentError(
      `${unreadable}. Make sure the server runs with appendonly yes, appendfsync always and maxmemory-policy noeviction, then set ${ACCEPT_WEAK_DURABILITY}=true to start without the check`,
    );
  } finally {
    redis.disconnect();
  }
  const problems = durabilityProblems(settings);
  if (problems.length === 0) return [];
  if (acceptWeak) return problems.map((p) => `redis durability accepted as weak (${ACCEPT_WEAK_DURABILITY}=true): ${p}`);
  throw new PermanentError(
    [
      'the Redis at REDIS_URL may lose acknowledged events or evict queue keys:',
      ...problems.map((p) => `  - ${p}`),
      `Fix these in redis.conf (or CONFIG SET, then CONFIG REWRITE to keep them), or set ${ACCEPT_WEAK_DURABILITY}=true to run anyway: a crash may then lose events GitLab was told are stored, and /readyz and the logs will say so.`,
    ].join('\n'),
  );
}
