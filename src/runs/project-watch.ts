import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import type { ProjectRef } from '../triggers/types.js';
import { runKeys, type RunKeys } from './keys.js';

/** What Slipway knows of one project's event flow: what the reconciler compares GitLab with. */
export interface WatchState {
  projectId: number;
  /** From the last webhook (or the API, for configured projects not heard from yet). */
  ref: ProjectRef | undefined;
  /** Since when Slipway watches it: commits and merges older than this are not "missed". */
  firstSeenAt: number | undefined;
  lastWebhookAt: number | undefined;
  /** Branch → head SHA at the last reconcile pass. */
  heads: Record<string, string>;
  /** merge requests updated after this were looked at (ms). */
  mergeCursor: number | undefined;
  /** When the reconciler last started a run no webhook had started. */
  lastMissedAt: number | undefined;
  lastCheckedAt: number | undefined;
  /** What is wrong with this project's events now (a disabled hook, silence); empty = fine. */
  problems: string[];
}

const refSchema = z.object({ id: z.number().int(), path: z.string(), defaultBranch: z.string(), webUrl: z.string().optional() });
const num = z.coerce.number().int().nonnegative();
const headsSchema = z.record(z.string(), z.string());
const problemsSchema = z.array(z.string());

/** A field that does not parse counts as absent: this is bookkeeping that the next pass rewrites, not a record to defend. */
function read<T>(schema: z.ZodType<T>, raw: string | undefined, json: boolean): T | undefined {
  if (raw === undefined) return undefined;
  try {
    const r = schema.safeParse(json ? JSON.parse(raw) : raw);
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Per-project watch state in Redis (hash `project:<id>:watch`, set `projects:known`). The HTTP role
 * writes `lastWebhookAt` (and the project's ref) on each accepted delivery; the reconciler writes
 * the rest. No expiry: one small hash per project.
 */
export class ProjectWatch {
  private readonly keys: RunKeys;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix = 'slipway',
  ) {
    this.keys = runKeys(prefix);
  }

  /** A webhook from this project was accepted. */
  async webhookSeen(ref: ProjectRef, at: number = Date.now()): Promise<void> {
    const key = this.keys.projectWatch(ref.id);
    await this.redis
      .multi()
      .sadd(this.keys.knownProjects, String(ref.id))
      .hsetnx(key, 'firstSeenAt', String(at))
      .hset(
        key,
        'lastWebhookAt',
        String(at),
        'ref',
        JSON.stringify({ id: ref.id, path: ref.path, defaultBranch: ref.defaultBranch, ...(ref.webUrl ? { webUrl: ref.webUrl } : {}) }),
      )
      .exec();
  }

  /** A configured project: watched from now on if it was not yet. */
  async ensureKnown(projectId: number, at: number = Date.now()): Promise<void> {
    await this.redis.multi().sadd(this.keys.knownProjects, String(projectId)).hsetnx(this.keys.projectWatch(projectId), 'firstSeenAt', String(at)).exec();
  }

  async known(): Promise<number[]> {
    return (await this.redis.smembers(this.keys.knownProjects))
      .map(Number)
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => a - b);
  }

  async get(projectId: number): Promise<WatchState> {
    const h = await this.redis.hgetall(this.keys.projectWatch(projectId));
    const ref = read(refSchema, h['ref'], true);
    return {
      projectId,
      ref: ref ? { id: ref.id, path: ref.path, defaultBranch: ref.defaultBranch, webUrl: ref.webUrl } : undefined,
      firstSeenAt: read(num, h['firstSeenAt'], false),
      lastWebhookAt: read(num, h['lastWebhookAt'], false),
      heads: read(headsSchema, h['heads'], true) ?? {},
      mergeCursor: read(num, h['mergeCursor'], false),
      lastMissedAt: read(num, h['lastMissedAt'], false),
      lastCheckedAt: read(num, h['lastCheckedAt'], false),
      problems: read(problemsSchema, h['problems'], true) ?? [],
    };
  }

  async all(): Promise<WatchState[]> {
    return Promise.all((await this.known()).map((id) => this.get(id)));
  }

  /** The reconciler's fields (never lastWebhookAt or firstSeenAt, which the webhook path owns). */
  async update(
    projectId: number,
    s: Partial<Pick<WatchState, 'ref' | 'heads' | 'mergeCursor' | 'lastMissedAt' | 'lastCheckedAt' | 'problems'>>,
  ): Promise<void> {
    const fields: string[] = [];
    if (s.ref) fields.push('ref', JSON.stringify(s.ref));
    if (s.heads) fields.push('heads', JSON.stringify(s.heads));
    if (s.mergeCursor !== undefined) fields.push('mergeCursor', String(s.mergeCursor));
    if (s.lastMissedAt !== undefined) fields.push('lastMissedAt', String(s.lastMissedAt));
    if (s.lastCheckedAt !== undefined) fields.push('lastCheckedAt', String(s.lastCheckedAt));
    if (s.problems) fields.push('problems', JSON.stringify(s.problems));
    if (fields.length > 0) await this.redis.hset(this.keys.projectWatch(projectId), ...fields);
  }
}
