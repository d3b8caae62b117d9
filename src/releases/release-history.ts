import type { Cluster, Redis } from 'ioredis';
import type { ReleaseSpec } from '../deploy/deploy-target.js';
import { openSpec, sealSpec } from './recorded-spec.js';
import { pauseSchema, releaseEntrySchema, type Pause, type ReleaseEntry } from './types.js';

/** Releases kept per (service, environment); older ones are deleted as new ones are recorded. */
export const RELEASES_KEPT = 50;
const LOG_LINES_KEPT = 100;

/**
 * The release history of one (service, environment) in Redis: hash `releases:<service>:<env>` with a
 * counter (`seq`, the last id), each entry as JSON (field `<id>`) and its recorded spec sealed (field
 * `<id>:spec`); the last RELEASES_KEPT are kept. Beside it, `pause:<service>:<env>` (automatic deploys
 * paused, no expiry) and `rollback:<service>:<env>` (the rollback in progress, one at a time). No
 * expiry: an environment's history is small and bounded.
 */
export class ReleaseHistory {
  private readonly key: string;
  private readonly pauseKey: string;
  private readonly rollbackKey: string;
  private readonly indexKey: string;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly sealKey: Buffer,
    prefix: string,
    readonly service: string,
    readonly environment: string,
  ) {
    this.key = `${prefix}:releases:${service}:${environment}`;
    this.pauseKey = `${prefix}:pause:${service}:${environment}`;
    this.rollbackKey = `${prefix}:rollback:${service}:${environment}`;
    this.indexKey = indexKeyOf(prefix);
  }

  /** Records a release with its spec; answers it with its new id. Deletes the one that falls out of the kept window. */
  async add(entry: Omit<ReleaseEntry, 'id'>, spec: ReleaseSpec): Promise<ReleaseEntry> {
    const id = await this.redis.hincrby(this.key, 'seq', 1);
    const full: ReleaseEntry = { ...entry, id };
    const old = id - RELEASES_KEPT;
    await this.redis
      .multi()
      .hset(this.key, String(id), JSON.stringify(full), `${id}:spec`, sealSpec(this.sealKey, spec, id))
      .hdel(this.key, String(old), `${old}:spec`)
      // The environments matrix and DORA list the pairs from here, never by scanning keys.
      .sadd(this.indexKey, pairMember(this.service, this.environment))
      .exec();
    return full;
  }

  async get(id: number): Promise<ReleaseEntry | null> {
    const raw = await this.redis.hget(this.key, String(id));
    return raw === null ? null : parseEntry(raw, id);
  }

  /** Changes an entry (its one writer: the deploy worker that applies it). */
  async update(id: number, patch: Partial<Omit<ReleaseEntry, 'id'>>): Promise<ReleaseEntry | null> {
    const entry = await this.get(id);
    if (!entry) return null;
    const next = { ...entry, ...patch, log: (patch.log ?? entry.log).slice(-LOG_LINES_KEPT) };
    await this.redis.hset(this.key, String(id), JSON.stringify(next));
    return next;
  }

  /** The recorded spec of release `id`, or null when it is no longer kept. */
  async spec(id: number): Promise<ReleaseSpec | null> {
    const sealed = await this.redis.hget(this.key, `${id}:spec`);
    return sealed === null ? null : openSpec(this.sealKey, sealed, this.service, this.environment, id);
  }

  /** Newest first, at most `limit`. */
  async list(limit = RELEASES_KEPT): Promise<ReleaseEntry[]> {
    const seq = Number((await this.redis.hget(this.key, 'seq')) ?? 0);
    const ids = Array.from({ length: Math.min(limit, RELEASES_KEPT, seq) }, (_, i) => seq - i);
    if (ids.length === 0) return [];
    const raws = await this.redis.hmget(this.key, ...ids.map(String));
    return raws.flatMap((raw, i) => (raw === null ? [] : [parseEntry(raw, ids[i] ?? 0)]));
  }

  /** Whether anything was ever recorded here (an unknown service or environment has nothing). */
  async known(): Promise<boolean> {
    return (await this.redis.exists(this.key)) === 1;
  }

  async pause(): Promise<Pause | null> {
    const raw = await this.redis.get(this.pauseKey);
    if (raw === null) return null;
    const parsed = pauseSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) throw new Error(`the pause of ${this.service}/${this.environment} is not readable: ${parsed.error.issues[0]?.message ?? ''}`);
    return parsed.data;
  }

  async setPause(p: Pause): Promise<void> {
    await this.redis.set(this.pauseKey, JSON.stringify(p));
  }

  /** Ends the pause; answers the one ended, or null when there was none. */
  async clearPause(): Promise<Pause | null> {
    const was = await this.pause();
    await this.redis.del(this.pauseKey);
    return was;
  }

  /**
   * Claims the environment for one rollback (`holder`: its id, or a token while it is being recorded);
   * answers the holder already there, or null when claimed. Expires by itself (a crashed worker).
   */
  async claimRollback(holder: string, ttlMs: number): Promise<string | null> {
    if ((await this.redis.set(this.rollbackKey, holder, 'PX', ttlMs, 'NX')) === 'OK') return null;
    return (await this.redis.get(this.rollbackKey)) ?? 'unknown';
  }

  /** Hands the claim from `from` to `to` (the rollback's id once it is recorded). */
  async passRollback(from: string, to: string, ttlMs: number): Promise<void> {
    if ((await this.redis.get(this.rollbackKey)) === from) await this.redis.set(this.rollbackKey, to, 'PX', ttlMs);
  }

  async endRollback(holder: string): Promise<void> {
    if ((await this.redis.get(this.rollbackKey)) === holder) await this.redis.del(this.rollbackKey);
  }
}

function parseEntry(raw: string, id: number): ReleaseEntry {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  const r = releaseEntrySchema.safeParse(value);
  if (!r.success) throw new Error(`release ${id} is not readable: ${r.error.issues[0]?.message ?? 'not JSON'}`);
  return r.data;
}

/** The set of every (service, environment) with a recorded release: `releases:index`, members `<service> <environment>`. */
const indexKeyOf = (prefix: string) => `${prefix}:releases:index`;
// Service and environment names are DNS-label-like (no spaces), so one space separates them unambiguously.
const pairMember = (service: string, environment: string) => `${service} ${environment}`;

export interface ServiceEnvironment {
  service: string;
  environment: string;
}

/** The histories of every environment, on one Redis connection and key. */
export class ReleaseHistories {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly sealKey: Buffer,
    private readonly prefix: string,
  ) {}

  of(service: string, environment: string): ReleaseHistory {
    return new ReleaseHistory(this.redis, this.sealKey, this.prefix, service, environment);
  }

  /**
   * Every (service, environment) a release was recorded for, sorted by service then environment.
   * Written with each release (`add`); a history recorded before the index existed is not listed until its next release.
   */
  async pairs(): Promise<ServiceEnvironment[]> {
    const members = await this.redis.smembers(indexKeyOf(this.prefix));
    return members
      .flatMap((m) => {
        const [service, environment, ...rest] = m.split(' ');
        return service && environment && rest.length === 0 ? [{ service, environment }] : [];
      })
      .sort((a, b) => a.service.localeCompare(b.service) || a.environment.localeCompare(b.environment));
  }
}
