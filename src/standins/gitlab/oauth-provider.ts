/*
 * GitLab as an OAuth 2.0 provider, for the web UI's "Sign in with GitLab". Follows:
 *  - doc/api/oauth2.md, "Authorization code with Proof Key for Code Exchange (PKCE)" and
 *    "Authorization code flow": GET /oauth/authorize (client_id, redirect_uri, response_type=code,
 *    state, scope, code_challenge, code_challenge_method) redirects to redirect_uri?code=…&state=…;
 *    POST /oauth/token with grant_type=authorization_code (code, redirect_uri, client_id,
 *    client_secret, code_verifier) or grant_type=refresh_token (refresh_token; the old pair is
 *    revoked) answers {access_token, token_type, expires_in, refresh_token, created_at}
 *  - doc/integration/oauth_provider.md: applications with a redirect URI and scopes (read_user,
 *    read_api, api), access tokens that expire after 2 hours
 *  - doc/api/rest/authentication.md, "OAuth 2.0 tokens": Authorization: Bearer on /api/v4; an expired
 *    or revoked token is 401 {"error":"invalid_token", …} (Doorkeeper's answer)
 *  - RFC 6749 §4.1.2.1 and §5.2 for the error redirects and the token endpoint's errors (Doorkeeper
 *    words them as below).
 * The person in the browser is whoever the test says is signed in to GitLab; they approve (or deny)
 * at once, as after clicking Authorize. Anything else (an unknown client, a redirect URI that is not
 * the application's, nobody signed in) is answered as GitLab would and flagged as an unexpected call.
 */
import { createHash, randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { readBody, str } from './body.js';

export interface OAuthApplication {
  clientId: string;
  secret: string;
  redirectUri: string;
  scopes: string[];
}

interface Grant {
  clientId: string;
  userId: number;
  redirectUri: string;
  scopes: string[];
  challenge: string | undefined;
  method: string | undefined;
  expiresAt: number;
  used: boolean;
}

export interface IssuedToken {
  accessToken: string;
  refreshToken: string;
  clientId: string;
  userId: number;
  scopes: string[];
  expiresAt: number;
  revoked: boolean;
  /** The code it was issued for (null: a refresh). */
  code: string | null;
}

const INVALID_GRANT =
  'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.';
const INVALID_CLIENT = 'Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.';

export class FakeOAuth {
  readonly apps = new Map<string, OAuthApplication>();
  readonly grants = new Map<string, Grant>();
  readonly tokens: IssuedToken[] = [];
  /** The user signed in to GitLab in the browser: /oauth/authorize approves for them. */
  signedIn: number | null = null;
  /** They click Deny instead. */
  deny = false;
  /** expires_in of new access tokens (GitLab: 7200). */
  expiresIn = 7200;

  /** Who an API bearer token is: a live token, 'expired', 'revoked', or undefined (not an OAuth token). */
  bearer(token: string): IssuedToken | 'expired' | 'revoked' | undefined {
    const t = this.tokens.find((x) => x.accessToken === token);
    if (!t) return undefined;
    if (t.revoked) return 'revoked';
    return t.expiresAt <= Date.now() ? 'expired' : t;
  }
}

/** 401 for an OAuth token the API no longer takes, as Doorkeeper words it. */
export function invalidTokenBody(why: 'expired' | 'revoked'): { error: string; error_description: string } {
  return {
    error: 'invalid_token',
    error_description:
      why === 'expired'
        ? 'Token is expired. You can either do re-authorization or token refresh.'
        : 'Token was revoked. You have to re-authorize from the user.',
  };
}

export function oauthRouter(o: FakeOAuth, unexpected: (res: Response, status: number, body: object) => void): Router {
  const r = express.Router();

  r.get('/authorize', (req, res) => {
    const q = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : undefined);
    const app = o.apps.get(q('client_id') ?? '');
    if (!app) {
      unexpected(res, 401, { error: 'invalid_client', error_description: INVALID_CLIENT });
      return;
    }
    if (q('redirect_uri') !== app.redirectUri) {
      unexpected(res, 400, { error: 'invalid_redirect_uri', error_description: 'The redirect uri included is not valid.' });
      return;
    }
    const back = (params: Record<string, string>) => {
      const state = q('state');
      const u = new URL(app.redirectUri);
      for (const [k, v] of Object.entries({ ...params, ...(state !== undefined ? { state } : {}) })) u.searchParams.set(k, v);
      res.redirect(302, u.toString());
    };
    if (q('response_type') !== 'code') {
      back({ error: 'unsupported_response_type', error_description: 'The authorization server does not support this response type.' });
      return;
    }
    const scopes = (q('scope') ?? app.scopes.join(' ')).split(/[ +]/).filter(Boolean);
    if (scopes.length === 0 || !scopes.every((s) => app.scopes.includes(s))) {
      back({ error: 'invalid_scope', error_description: 'The requested scope is invalid, unknown, or malformed.' });
      return;
    }
    const method = q('code_challenge_method');
    const challenge = q('code_challenge');
    if (challenge !== undefined && method !== undefined && method !== 'S256' && method !== 'plain') {
      back({ error: 'invalid_request', error_description: 'The code challenge method must be plain or S256.' });
      return;
    }
    if (o.signedIn === null) {
      // GitLab would show its own sign-in page here; no test means to get there.
      unexpected(res, 401, { message: '401 Unauthorized: nobody is signed in to the GitLab stand-in (oauthSignIn)' });
      return;
    }
    if (o.deny) {
      back({ error: 'access_denied', error_description: 'The resource owner or authorization server denied the request.' });
      return;
    }
    const code = randomBytes(32).toString('hex');
    o.grants.set(code, {
      clientId: app.clientId,
      userId: o.signedIn,
      redirectUri: app.redirectUri,
      scopes,
      challenge,
      method: challenge === undefined ? undefined : (method ?? 'plain'),
      expiresAt: Date.now() + 600_000,
      used: false,
    });
    back({ code });
  });

  r.post('/token', async (req, res) => {
    let body: Awaited<ReturnType<typeof readBody>>;
    try {
      body = await readBody(req);
    } catch {
      res.status(400).json({ error: 'invalid_request', error_description: 'The request is missing a required parameter.' });
      return;
    }
    // Recorded like an API call's body, so a test can see what the client sent (verifier, grant).
    const call = res.locals['call'] as { body: unknown } | undefined;
    if (call) call.body = body;
    const app = client(req, body, o);
    if (!app) {
      res.status(401).json({ error: 'invalid_client', error_description: INVALID_CLIENT });
      return;
    }
    const grantType = str(body, 'grant_type');
    if (grantType === 'authorization_code') {
      const code = str(body, 'code') ?? '';
      const grant = o.grants.get(code);
      if (grant?.used) {
        // A code used twice: refused, and what it gave is revoked (RFC 6749 §4.1.2).
        for (const t of o.tokens) if (t.code === code) t.revoked = true;
      }
      const verifier = str(body, 'code_verifier');
      const pkceOk =
        grant?.challenge === undefined ||
        (verifier !== undefined && (grant.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier) === grant.challenge);
      if (
        !grant ||
        grant.used ||
        grant.expiresAt <= Date.now() ||
        grant.clientId !== app.clientId ||
        grant.redirectUri !== str(body, 'redirect_uri') ||
        !pkceOk
      ) {
        if (grant) grant.used = true;
        res.status(400).json({ error: 'invalid_grant', error_description: INVALID_GRANT });
        return;
      }
      grant.used = true;
      issue(res, o, { clientId: app.clientId, userId: grant.userId, scopes: grant.scopes, code });
      return;
    }
    if (grantType === 'refresh_token') {
      const old = o.tokens.find((t) => t.refreshToken === str(body, 'refresh_token') && t.clientId === app.clientId);
      if (!old || old.revoked) {
        res.status(400).json({ error: 'invalid_grant', error_description: INVALID_GRANT });
        return;
      }
      old.revoked = true;
      issue(res, o, { clientId: app.clientId, userId: old.userId, scopes: old.scopes, code: null });
      return;
    }
    res.status(400).json({ error: 'unsupported_grant_type', error_description: 'The authorization grant type is not supported by the authorization server.' });
  });
  return r;
}

/** client_id + client_secret in the body, or HTTP Basic (RFC 6749 §2.3.1). */
function client(req: Request, body: Awaited<ReturnType<typeof readBody>>, o: FakeOAuth): OAuthApplication | undefined {
  let id = str(body, 'client_id');
  let secret = str(body, 'client_secret');
  const basic = /^Basic (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
  if (basic) {
    const [u, ...p] = Buffer.from(basic, 'base64').toString('utf8').split(':');
    id = decodeURIComponent(u ?? '');
    secret = decodeURIComponent(p.join(':'));
  }
  const app = o.apps.get(id ?? '');
  return app && secret === app.secret ? app : undefined;
}

function issue(res: Response, o: FakeOAuth, t: { clientId: string; userId: number; scopes: string[]; code: string | null }): void {
  const now = Date.now();
  const token: IssuedToken = {
    ...t,
    accessToken: randomBytes(32).toString('hex'),
    refreshToken: randomBytes(32).toString('hex'),
    expiresAt: now + o.expiresIn * 1000,
    revoked: false,
  };
  o.tokens.push(token);
  res.set('Cache-Control', 'no-store').json({
    access_token: token.accessToken,
    token_type: 'Bearer',
    expires_in: o.expiresIn,
    refresh_token: token.refreshToken,
    scope: t.scopes.join(' '),
    created_at: Math.floor(now / 1000),
  });
}
