import type { Cluster, Redis } from 'ioredis';

/**
 * The release last applied to one (service, environment), as GitLab keeps an environment's last
 * successful deployment: which run made it, when that run was created, and when it went live.
 */
export interface LastDeployment {
  runId: string;
  /** The run's creation time as recorded when its event was accepted (`RunRecord.createdAt`). */
  runCreatedAt: string;
  sha: string;
  /** When the release became the live one (the same instant as the run's `DeploymentRecord.at`). */
  at: string;
}

/** A run's place in creation order: its recorded creation time, then its id (ids are unique). */
export interface RunOrder {
  runId: string;
  createdAt: string;
}

/**
 * Pure: whether run `a` was created after run `b` ("newer" as GitLab's "prevent outdated deployment
 * jobs" means it: the pipeline created later wins, whenever its image finished). Run ids start
 * with the creation time, so within one millisecond the id still gives a fixed order.
 */
export function isNewer(a: RunOrder, b: RunOrder): boolean {
  const am = Date.parse(a.createdAt);
  const bm = Date.parse(b.createdAt);
  return am !== bm ? am > bm : a.runId > b.runId;
}

/** Pure: the reason a superseded deploy job shows in the run record, GitLab and the MR note. */
export function supersededReason(newer: LastDeployment, environment: string): string {
  return `superseded: run ${newer.runId} (newer, pipeline for ${newer.sha.slice(0, 8)}) deployed ${environment} at ${newer.at}`;
}

// Writes only when nothing newer is recorded, so even a deploy that outlived its environment lock
// cannot move the record backwards. Creation times compare as numbers (ms), ids on a tie.
const RECORD_IF_NOT_OLDER = `
local ms = tonumber(redis.call('HGET', KEYS[1], 'createdMs') or '-1')
local id = redis.call('HGET', KEYS[1], 'runId')
local newMs = tonumber(ARGV[1])
if ms > newMs or (ms == newMs and id and id > ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'createdMs', ARGV[1], 'runId', ARGV[2], 'applied', ARGV[3])
return 1`;

/**
 * The last deployment of one (service, environment) in Redis. Read and written by the deploy
 * job while it holds the environment lock; kept without expiry (one small hash per environment).
 */
export class LastDeploymentRecord {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly key: string,
  ) {}

  async read(): Promise<LastDeployment | null> {
    const raw = await this.redis.hget(this.key, 'applied');
    return raw ? (JSON.parse(raw) as LastDeployment) : null;
  }

  /** Records `release` unless a newer run's release is already recorded; says whether it did. */
  async record(release: LastDeployment): Promise<boolean> {
    const reply = await this.redis.eval(RECORD_IF_NOT_OLDER, 1, this.key, String(Date.parse(release.runCreatedAt)), release.runId, JSON.stringify(release));
    return reply === 1;
  }
}

/** The newer run whose release is live, when `run` must not be applied over it; else null. */
export async function newerApplied(last: LastDeploymentRecord, run: RunOrder): Promise<LastDeployment | null> {
  const applied = await last.read();
  return applied && isNewer({ runId: applied.runId, createdAt: applied.runCreatedAt }, run) ? applied : null;
}
