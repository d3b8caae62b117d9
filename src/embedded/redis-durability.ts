import { Cluster, Redis } from 'ioredis';
import { PermanentError } from '../errors/errors.js';
import { createRedisClient, describeTarget, whenReady, type RedisClient, type RedisTarget } from './redis-connection.js';

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
 * Reads the settings of every data node (CONFIG GET, on connections of their own, with timeouts)
 * and refuses a Redis that may lose acknowledged events or evict keys, naming each wrong setting,
 * its node and the fix. Every node counts, replicas too: with Sentinel or Cluster a replica becomes
 * the master at the next failover, and then it is what acknowledges webhooks. With `acceptWeak` it
 * returns the same findings as warnings instead, for /readyz and the logs. A server where CONFIG is
 * renamed, disabled or not permitted (managed Redis) cannot be checked: refused unless
 * `acceptWeak`. Never prints the URL (it may carry a password).
 */
export async function checkRedisDurability(target: RedisTarget, acceptWeak: boolean): Promise<string[]> {
  const what = describeTarget(target);
  const client = createRedisClient(target, 'fail-fast');
  let lastError = '';
  client.on('error', (err: Error) => {
    lastError = err.message;
  });
  const opened: Redis[] = [];
  const problems: string[] = [];
  try {
    // Same patience as the connections Slipway then opens: ioredis retries until the deadline.
    await whenReady(client, 15_000).catch(() => {
      throw new PermanentError(`${what} not ready after 15 s${lastError ? `: ${lastError}` : ''}`);
    });
    const nodes = await dataNodes(client, target, opened);
    for (const node of nodes) {
      const found = durabilityProblems(await readSettings(node.redis));
      problems.push(...found.map((p) => (nodes.length > 1 ? `${node.name}: ${p}` : p)));
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
    for (const r of opened) r.disconnect();
    client.disconnect();
  }
  if (problems.length === 0) return [];
  if (acceptWeak) return problems.map((p) => `redis durability accepted as weak (${ACCEPT_WEAK_DURABILITY}=true): ${p}`);
  throw new PermanentError(
    [
      `${what} may lose acknowledged events or evict queue keys:`,
      ...problems.map((p) => `  - ${p}`),
      `Fix these in redis.conf (or CONFIG SET, then CONFIG REWRITE to keep them), or set ${ACCEPT_WEAK_DURABILITY}=true to run anyway: a crash may then lose events GitLab was told are stored, and /readyz and the logs will say so.`,
    ].join('\n'),
  );
}

async function readSettings(redis: Redis): Promise<RedisSettings> {
  const settings: RedisSettings = {};
  for (const { name } of REQUIRED) {
    const pair = (await redis.config('GET', name)) as string[];
    if (pair[1] !== undefined) settings[name] = pair[1]; // absent: reported as 'unknown'
  }
  return settings;
}

/**
 * Every node that holds Slipway's data now or after a failover: a Cluster's masters and replicas as
 * its slot map names them; a Sentinel master and the replicas it lists in ROLE (each reached with
 * the same password); one server itself.
 */
async function dataNodes(client: RedisClient, target: RedisTarget, opened: Redis[]): Promise<{ name: string; redis: Redis }[]> {
  if (client instanceof Cluster) return client.nodes('all').map((r) => ({ name: `${r.options.host}:${r.options.port}`, redis: r }));
  const nodes = [{ name: 'master', redis: client }];
  if (!('sentinels' in target)) return nodes;
  const role = (await client.role()) as unknown[];
  const replicas = Array.isArray(role[2]) ? (role[2] as unknown[][]) : [];
  for (const [host, port] of replicas) {
    const replica = new Redis({ host: String(host), port: Number(port), ...(target.password ? { password: target.password } : {}), ...FAIL_FAST });
    replica.on('error', () => undefined);
    opened.push(replica);
    nodes.push({ name: `replica ${String(host)}:${Number(port)}`, redis: replica });
  }
  return nodes;
}

const FAIL_FAST = { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 5_000 } as const;
