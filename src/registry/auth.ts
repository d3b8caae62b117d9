/**
 * Registry authentication (distribution's token auth spec): a request without
 * credentials gets 401 with a WWW-Authenticate challenge. "Basic" means send
 * the credentials; "Bearer realm=…,service=…,scope=…" means fetch a token from
 * the realm for those scopes (Harbor, GitLab's registry, Docker Hub) and send
 * it. Tokens are cached per scope set until shortly before they expire.
 */
export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(basic|bearer)\b(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params[(p[1] ?? '').toLowerCase()] = p[2] ?? '';
  return { scheme: (m[1] ?? '').toLowerCase() === 'basic' ? 'basic' : 'bearer', params };
}

export function basicHeader(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

// Distribution's default token lifetime when the server does not say (token auth spec: 60 s).
const DEFAULT_TOKEN_TTL_S = 60;

export class Authorizer {
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly creds: Credentials | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Authorization header to send before any challenge, if we already know what works. */
  cached(scopes: readonly string[]): string | undefined {
    if (this.scheme === 'basic' && this.creds) return basicHeader(this.creds);
    if (this.scheme !== 'bearer') return undefined;
    const t = this.tokens.get(scopeKey(scopes));
    return t && t.expiresAt > this.now() ? t.header : undefined;
  }

  /**
   * Answers a 401 challenge. Throws a plain Error (the caller wraps it with
   * the call and registry) when the challenge cannot be met.
   */
  async answer(header: string, scopes: readonly string[], signal: AbortSignal): Promise<string> {
    const ch = parseChallenge(header);
    if (!ch) throw new Error(`unsupported auth challenge ${JSON.stringify(header.slice(0, 100))}`);
    if (ch.scheme === 'basic') {
      if (!this.creds) throw new Error('credentials required (Basic challenge) but none configured');
      this.scheme = 'basic';
      return basicHeader(this.creds);
    }
    const realm = ch.params['realm'];
    if (!realm) throw new Error('Bearer challenge without a realm');
    const wanted = [...new Set([...scopes, ...(ch.params['scope'] ? ch.params['scope'].split(' ') : [])])].sort();
    const url = new URL(realm);
    if (ch.params['service']) url.searchParams.set('service', ch.params['service']);
    for (const s of wanted) url.searchParams.append('scope', s);
    const res = await fetch(url, { headers: this.creds ? { Authorization: basicHeader(this.creds) } : {}, signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`token request to ${url.origin}${url.pathname} answered ${res.status}`);
    }
    const body = (await res.json()) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || !token) throw new Error('token response without a token');
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_TTL_S;
    const cachedToken = { header: `Bearer ${token}`, expiresAt: this.now() + (ttl - 10) * 1000 };
    this.scheme = 'bearer';
    this.tokens.set(scopeKey(scopes), cachedToken);
    return cachedToken.header;
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

export const pullScope = (repository: string): string => `repository:${repository}:pull`;
export const pushScope = (repository: string): string => `repository:${repository}:pull,push`;
/** Harbor and distribution's token server grant deletes under the `delete` action (`*` also covers it). */
export const deleteScope = (repository: string): string => `repository:${repository}:delete`;
