import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import type { SignedInUser } from '../gitlab/client.js';
import type { OAuthTokens } from '../gitlab/oauth.js';

/**
 * A signed-in person. A personal access token they signed in with is not kept: GitLab was asked once
 * who they are. A sign-in with GitLab OAuth keeps its tokens (`oauth`), sealed in Redis.
 */
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
  /** A sign-in with GitLab OAuth: the person's tokens, for their access levels and to refresh. */
  oauth?: OAuthTokens;
}

const sessionSchema = z.object({
  user: z.object({ id: z.number(), username: z.string(), name: z.string(), isAdmin: z.boolean() }),
  admin: z.boolean(),
  csrf: z.string(),
  createdAt: z.string(),
  /** OAuth tokens sealed with a key only the cookie's value gives (AES-256-GCM, base64url iv.tag.data). */
  oauth: z.string().optional(),
});
const tokensSchema = z.object({ accessToken: z.string(), refreshToken: z.string(), expiresAt: z.number() });

/**
 * The session's OAuth tokens are sealed with a key derived (HKDF) from the cookie's value, which
 * Redis never holds: a copy of Redis gives neither a usable cookie nor the person's GitLab tokens.
 */
function sealKey(id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', id, 'slipway-session', 'gitlab-oauth-tokens', 32));
}
function seal(id: string, tokens: OAuthTokens): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey(id), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url')).join('.');
}
function unseal(id: string, sealed: string): OAuthTokens | null {
  const [iv, tag, data] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !tag || !data) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealKey(id), iv);
    decipher.setAuthTag(tag);
    const parsed = tokensSchema.safeParse(JSON.parse(Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

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

  async create(user: SignedInUser, admin: boolean, oauth?: OAuthTokens): Promise<OpenSession> {
    const id = randomBytes(32).toString('base64url');
    const session: Session = { user, admin, csrf: randomBytes(24).toString('base64url'), createdAt: new Date().toISOString() };
    await this.redis.set(this.key(id), JSON.stringify({ ...session, ...(oauth ? { oauth: seal(id, oauth) } : {}) }), 'EX', this.ttlSeconds);
    return { ...session, id, ...(oauth ? { oauth } : {}) };
  }

  /** New OAuth tokens for a session (after a refresh); its expiry stays. false: the session is gone. */
  async replaceTokens(session: OpenSession, oauth: OAuthTokens): Promise<boolean> {
    const { id, oauth: _old, ...rest } = session;
    const stored = { ...rest, oauth: seal(id, oauth) };
    return (await this.redis.set(this.key(id), JSON.stringify(stored), 'KEEPTTL', 'XX')) === 'OK';
  }

  /** The key a refresh of this session's tokens is serialized on (GitLab revokes a refresh token once used). */
  refreshLockKey(id: string): string {
    return `${this.key(id)}:refresh`;
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
    if (!parsed.success) return null;
    const { oauth: sealed, ...session } = parsed.data;
    if (sealed === undefined) return { ...session, id };
    const oauth = unseal(id, sealed);
    return oauth ? { ...session, id, oauth } : null;
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
