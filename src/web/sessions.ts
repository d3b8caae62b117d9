import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import type { SignedInUser } from '../gitlab/client.js';

/** A signed-in person. The GitLab token they signed in with is not kept: GitLab was asked once who they are. */
export interface Session {
  user: SignedInUser;
  /** A GitLab administrator, or listed in SLIPWAY_ADMINS. */
  admin: boolean;
  /** Sent back with every state-changing form (hidden field) or request (X-CSRF-Token). */
  csrf: string;
  createdAt: string;
}

export interface OpenSession extends Session {
  /** The cookie's value; only its SHA-256 names the Redis key. */
  id: string;
}

const sessionSchema = z.object({
  user: z.object({ id: z.number(), username: z.string(), name: z.string(), isAdmin: z.boolean() }),
  admin: z.boolean(),
  csrf: z.string(),
  createdAt: z.string(),
});

const ACCESS_CACHE_SECONDS = 300;

/**
 * Sessions in Redis with an absolute expiry (SLIPWAY_SESSION_HOURS). The key is the SHA-256 of the
 * cookie's value, so a copy of Redis gives no usable cookie. GitLab access levels asked for this
 * session are cached beside it for 5 minutes (roles change rarely; decisions are checked again by
 * the approvals code at the moment they are made).
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    readonly ttlSeconds: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:session:${createHash('sha256').update(id).digest('hex')}`;
  }

  async create(user: SignedInUser, admin: boolean): Promise<OpenSession> {
    const id = randomBytes(32).toString('base64url');
    const session: Session = { user, admin, csrf: randomBytes(24).toString('base64url'), createdAt: new Date().toISOString() };
    await this.redis.set(this.key(id), JSON.stringify(session), 'EX', this.ttlSeconds);
    return { ...session, id };
  }

  /** null: unknown, expired or signed out (or a value that is not ours). */
  async get(id: string): Promise<OpenSession | null> {
    if (!/^[\w-]{20,100}$/.test(id)) return null;
    const raw = await this.redis.get(this.key(id));
    if (raw === null) return null;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return null;
    }
    const parsed = sessionSchema.safeParse(value);
    return parsed.success ? { ...parsed.data, id } : null;
  }

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.key(id), `${this.key(id)}:access`);
  }

  /** The cached GitLab access level of this session's user in a project: undefined = not asked yet, null = not a member. */
  async cachedAccess(id: string, projectId: number): Promise<number | null | undefined> {
    const v = await this.redis.hget(`${this.key(id)}:access`, String(projectId));
    if (v === null) return undefined;
    return v === 'none' ? null : Number(v);
  }

  async cacheAccess(id: string, projectId: number, level: number | null): Promise<void> {
    const key = `${this.key(id)}:access`;
    await this.redis
      .multi()
      .hset(key, String(projectId), level === null ? 'none' : String(level))
      .expire(key, ACCESS_CACHE_SECONDS)
      .exec();
  }
}
