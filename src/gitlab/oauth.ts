import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

// GitLab as an OAuth 2.0 provider (doc/api/oauth2.md, "Authorization code with Proof Key for Code
// Exchange (PKCE)" and "Authorization code flow"; RFC 6749 §4.1 and §6, RFC 7636): the authorize URL
// the browser is sent to, and the token endpoint Slipway calls server-side to exchange a code and to
// refresh. Tokens and the client secret travel only in POST bodies; no error message carries them.

export interface OAuthTokens {
  accessToken: string;
  refreshToken: string;
  /** ms since the epoch: created_at (or now) + expires_in. */
  expiresAt: number;
}

export interface OAuthClientOptions {
  /** GitLab's base URL as Slipway reaches it (GITLAB_URL): POST <url>/oauth/token. */
  url: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Attempts after the first, only when no answer came back or GitLab answered 502/503/504. Default 2. */
  retries?: number;
  fetchImpl?: typeof fetch;
}

/**
 * The token endpoint refused (`refused`: invalid_grant, invalid_client, … with GitLab's words) or
 * could not be asked (`unavailable`: no answer, a 5xx, an answer that is not a token).
 */
export class OAuthTokenError extends Error {
  constructor(
    readonly kind: 'refused' | 'unavailable',
    /** OAuth's error code (invalid_grant), or what went wrong on the way. */
    readonly code: string,
    readonly status: number | null,
    message: string,
  ) {
    super(message);
    this.name = 'OAuthTokenError';
  }
}

export interface OAuthClient {
  /** grant_type=authorization_code with the PKCE verifier. A code works once (GitLab refuses it after: invalid_grant). */
  exchange(code: string, codeVerifier: string): Promise<OAuthTokens>;
  /** grant_type=refresh_token: new tokens; GitLab revokes the old pair. */
  refresh(refreshToken: string): Promise<OAuthTokens>;
}

/** PKCE's verifier (43 characters of base64url, 256 random bits) and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** GET <base>/oauth/authorize with the parameters doc/api/oauth2.md lists. */
export function authorizeUrl(base: string, p: { clientId: string; redirectUri: string; state: string; scope: string; codeChallenge: string }): string {
  const q = new URLSearchParams({
    client_id: p.clientId,
    redirect_uri: p.redirectUri,
    response_type: 'code',
    state: p.state,
    scope: p.scope,
    code_challenge: p.codeChallenge,
    code_challenge_method: 'S256',
  });
  return `${base.replace(/\/+$/, '')}/oauth/authorize?${q.toString()}`;
}

// Doorkeeper's token answer (token_type "Bearer"; doc/api/oauth2.md shows it lowercase).
const TokenAnswer = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().int().positive().optional(),
  refresh_token: z.string().min(1),
  created_at: z.number().int().optional(),
});
const ErrorAnswer = z.object({ error: z.string(), error_description: z.string().optional() });

/** Without expires_in GitLab's tokens still expire (2 h since GitLab 15.0): refresh after that. */
const DEFAULT_EXPIRES_IN_S = 7200;

export function createOAuthClient(opts: OAuthClientOptions): OAuthClient {
  const endpoint = `${opts.url.replace(/\/+$/, '')}/oauth/token`;
  const fetchImpl = opts.fetchImpl ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const retries = opts.retries ?? 2;

  const post = async (grant: Record<string, string>): Promise<OAuthTokens> => {
    const body = new URLSearchParams({ ...grant, client_id: opts.clientId, client_secret: opts.clientSecret, redirect_uri: opts.redirectUri });
    let last: OAuthTokenError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
      let res: Response;
      try {
        res = await fetchImpl(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const why = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'could not connect';
        last = new OAuthTokenError('unavailable', 'network', null, `GitLab's token endpoint could not be asked: ${why}`);
        continue;
      }
      const text = await res.text().catch(() => '');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (res.ok) {
        const t = TokenAnswer.safeParse(json);
        if (!t.success)
          throw new OAuthTokenError('unavailable', 'invalid_response', res.status, "GitLab's token endpoint answered without a usable bearer token");
        const from = t.data.created_at !== undefined ? t.data.created_at * 1000 : Date.now();
        return { accessToken: t.data.access_token, refreshToken: t.data.refresh_token, expiresAt: from + (t.data.expires_in ?? DEFAULT_EXPIRES_IN_S) * 1000 };
      }
      const e = ErrorAnswer.safeParse(json);
      if (res.status >= 500) {
        last = new OAuthTokenError('unavailable', e.success ? e.data.error : 'server_error', res.status, `GitLab's token endpoint answered HTTP ${res.status}`);
        if (res.status === 502 || res.status === 503 || res.status === 504) continue;
        throw last;
      }
      const code = e.success ? e.data.error : `http_${res.status}`;
      const said = e.success && e.data.error_description ? `: ${e.data.error_description.slice(0, 300)}` : '';
      throw new OAuthTokenError('refused', code, res.status, `GitLab refused the ${grant['grant_type']} grant (HTTP ${res.status}, ${code})${said}`);
    }
    throw last ?? new OAuthTokenError('unavailable', 'network', null, "GitLab's token endpoint could not be asked");
  };

  return {
    exchange: (code, codeVerifier) => post({ grant_type: 'authorization_code', code, code_verifier: codeVerifier }),
    refresh: (refreshToken) => post({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  };
}
