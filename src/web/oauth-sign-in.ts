import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import express, { type Request, type Response, type Router } from 'express';
import type { GitlabClient, SignedInUser } from '../gitlab/client.js';
import { authorizeUrl, type OAuthClient, OAuthTokenError, type OAuthTokens, pkcePair } from '../gitlab/oauth.js';
import type { Logger } from '../logging/logger.js';
import { type CookiePolicy, cookieOptions, localPath, readCookies, SESSION_COOKIE, sameSecret } from './guard.js';
import { html } from './html.js';
import { sendPage } from './layout.js';
import type { SessionStore } from './sessions.js';

export const OAUTH_STATE_COOKIE = 'slipway_oauth_state';
const CALLBACK = '/sign-in/gitlab/callback';
/** How long a started sign-in may take at GitLab (GitLab's own codes last 10 minutes). */
const STATE_TTL_SECONDS = 600;

export interface OAuthSignInDeps {
  gitlab: GitlabClient;
  oauth: OAuthClient;
  sessions: SessionStore;
  redis: Redis | Cluster;
  prefix: string;
  cookies: CookiePolicy;
  admins: readonly string[];
  /** GET <authorizeBase>/oauth/authorize in the browser. */
  authorizeBase: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  logger: Logger;
}

/**
 * Sign-in with GitLab OAuth, the authorization code flow with PKCE (doc/api/oauth2.md):
 * GET /sign-in/gitlab sends the browser to GitLab's /oauth/authorize with a fresh `state` and an S256
 * `code_challenge`; the state is bound to this browser by a cookie and kept in Redis (10 minutes,
 * once) with the PKCE verifier and where to go after. GET /sign-in/gitlab/callback checks the
 * state against the cookie, exchanges the code server-side (with the verifier and the client
 * secret), asks GitLab who the token belongs to, and opens a session as the token sign-in does; the
 * session keeps the OAuth tokens (sealed) for the person's access levels. No token is put in a
 * URL, a page or a log line; the one-time code arrives in the callback's query, as OAuth has it.
 */
export function createOAuthSignIn(deps: OAuthSignInDeps): Router {
  const router = express.Router();
  const stateKey = (state: string) => `${deps.prefix}:oauth-state:${createHash('sha256').update(state).digest('hex')}`;

  router.get('/sign-in/gitlab', async (req, res) => {
    const state = randomBytes(32).toString('base64url');
    const pkce = pkcePair();
    const next = localPath(req.query['next']);
    await deps.redis.set(stateKey(state), JSON.stringify({ verifier: pkce.verifier, next }), 'EX', STATE_TTL_SECONDS);
    res.cookie(OAUTH_STATE_COOKIE, state, { ...cookieOptions(req, deps.cookies, STATE_TTL_SECONDS), path: CALLBACK });
    noStore(res);
    res.redirect(
      303,
      authorizeUrl(deps.authorizeBase, { clientId: deps.clientId, redirectUri: deps.redirectUri, state, scope: deps.scope, codeChallenge: pkce.challenge }),
    );
  });

  router.get(CALLBACK, async (req, res) => {
    const q = req.query;
    const given = typeof q['state'] === 'string' ? q['state'] : '';
    const bound = readCookies(req.get('cookie')).get(OAUTH_STATE_COOKIE) ?? '';
    res.clearCookie(OAUTH_STATE_COOKIE, { path: CALLBACK });
    if (!sameSecret(given, bound)) {
      problem(
        req,
        res,
        400,
        bound === ''
          ? 'This sign-in did not start in this browser (no sign-in state cookie): start again with Sign in with GitLab.'
          : 'The state GitLab sent back does not match the sign-in this browser started: start again with Sign in with GitLab.',
      );
      return;
    }
    // Once: GETDEL, so a callback replayed with the same state finds nothing.
    const raw = await deps.redis.getdel(stateKey(given));
    const started = parseStarted(raw);
    if (!started) {
      problem(req, res, 400, 'This sign-in has expired or was already completed (each lasts 10 minutes and works once): start again with Sign in with GitLab.');
      return;
    }
    const error = typeof q['error'] === 'string' ? q['error'] : undefined;
    if (error !== undefined) {
      const code = /^[a-z_]{1,64}$/.test(error) ? error : 'error';
      const said = typeof q['error_description'] === 'string' ? `: ${q['error_description'].slice(0, 300)}` : '';
      deps.logger.info({ error: code }, 'web OAuth sign-in: GitLab did not grant access');
      if (code === 'access_denied') problem(req, res, 403, `GitLab did not grant Slipway access (access_denied)${said}.`);
      else problem(req, res, 502, `GitLab refused Slipway's sign-in request (${code})${said}.`);
      return;
    }
    const code = typeof q['code'] === 'string' ? q['code'] : '';
    if (!/^[\x21-\x7e]{1,1024}$/.test(code)) {
      problem(req, res, 400, 'GitLab sent no authorization code back: start again with Sign in with GitLab.');
      return;
    }
    let tokens: OAuthTokens;
    try {
      tokens = await deps.oauth.exchange(code, started.verifier);
    } catch (err) {
      if (!(err instanceof OAuthTokenError)) throw err;
      deps.logger.warn({ kind: err.kind, code: err.code, status: err.status }, 'web OAuth sign-in: the code exchange failed');
      if (err.code === 'invalid_grant') {
        problem(
          req,
          res,
          400,
          `GitLab refused the authorization code (invalid_grant): a code works once, for this sign-in only, within 10 minutes. Start again.`,
        );
      } else if (err.code === 'invalid_client') {
        problem(
          req,
          res,
          502,
          "GitLab refused Slipway's application credentials (invalid_client): an administrator must check SLIPWAY_GITLAB_OAUTH_APP_ID and its secret.",
        );
      } else {
        problem(req, res, 502, `${err.message}. Try again in a moment.`);
      }
      return;
    }
    let user: SignedInUser;
    try {
      user = await deps.gitlab.signInUserOAuth(tokens.accessToken);
    } catch (err) {
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'web OAuth sign-in: GitLab could not say who signed in');
      problem(req, res, 502, 'GitLab could not say who signed in (GET /user with the new token failed); try again in a moment.');
      return;
    }
    const admin = user.isAdmin || deps.admins.some((a) => a.toLowerCase() === user.username.toLowerCase());
    const session = await deps.sessions.create(user, admin, tokens);
    res.cookie(SESSION_COOKIE, session.id, cookieOptions(req, deps.cookies, deps.sessions.ttlSeconds));
    deps.logger.info({ user: user.username, admin, via: 'gitlab-oauth' }, 'web sign-in');
    noStore(res);
    res.redirect(303, started.next);
  });
  return router;
}

function parseStarted(raw: string | null): { verifier: string; next: string } | null {
  if (raw === null) return null;
  try {
    const v = JSON.parse(raw) as { verifier?: unknown; next?: unknown };
    return typeof v.verifier === 'string' ? { verifier: v.verifier, next: localPath(v.next) } : null;
  } catch {
    return null;
  }
}

/** Redirects that carry or follow a code: not cached, no referrer. */
function noStore(res: Response): void {
  res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
}

/** A clear page (HTML for a browser, JSON otherwise) with the status, and the way back to sign in. */
function problem(req: Request, res: Response, status: number, message: string): void {
  if (req.accepts(['json', 'html']) !== 'html') {
    res.status(status).json({ error: message });
    return;
  }
  sendPage(
    res,
    status,
    'Sign-in failed',
    undefined,
    html`<section class="sign-in"><h1>Sign-in with GitLab failed</h1><p role="alert" class="problem">${message}</p><p><a href="/sign-in">Back to sign in</a></p></section>`,
  );
}
