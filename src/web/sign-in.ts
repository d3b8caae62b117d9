import { randomBytes } from 'node:crypto';
import express, { type Router } from 'express';
import type { GitlabClient } from '../gitlab/client.js';
import { GitlabApiError } from '../gitlab/errors.js';
import type { Logger } from '../logging/logger.js';
import {
  type CookiePolicy,
  CSRF_FIELD,
  cookieOptions,
  localPath,
  readCookies,
  requireCsrf,
  SESSION_COOKIE,
  SIGN_IN_CSRF_COOKIE,
  sameSecret,
  sessionOf,
} from './guard.js';
import { html } from './html.js';
import { sendPage } from './layout.js';
import type { SessionStore } from './sessions.js';

export interface SignInDeps {
  gitlab: GitlabClient;
  sessions: SessionStore;
  cookies: CookiePolicy;
  /** GitLab usernames that are Slipway admins besides GitLab's administrators. */
  admins: readonly string[];
  gitlabUrl: string;
  /** Sign-in with GitLab OAuth is configured: the form offers it first. */
  oauth: boolean;
  logger: Logger;
}

/**
 * GET /sign-in, POST /sign-in (a GitLab personal access token in the form's body, checked with
 * GitLab's GET /user and then forgotten), POST /sign-out. The token travels only in the POST body:
 * never in a URL, a cookie, Redis or a log line.
 */
export function createSignIn(deps: SignInDeps): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '8kb' });

  const showForm = (req: express.Request, res: express.Response, status: number, problem?: string) => {
    const csrf = randomBytes(24).toString('base64url');
    res.cookie(SIGN_IN_CSRF_COOKIE, csrf, cookieOptions(req, deps.cookies, 3600));
    const next = localPath(req.query['next'] ?? (req.body as Record<string, unknown> | undefined)?.['next']);
    sendPage(
      res,
      status,
      'Sign in',
      undefined,
      html`<section class="sign-in" aria-labelledby="sign-in-title"><h1 id="sign-in-title">Sign in to Slipway</h1>
${problem ? html`<p role="alert" class="problem">${problem}</p>` : ''}
${deps.oauth ? html`<p><a class="button" href="/sign-in/gitlab?next=${encodeURIComponent(next)}">Sign in with GitLab</a></p><p class="help">Or with a personal access token:</p>` : ''}
<form method="post" action="/sign-in">
<input type="hidden" name="${CSRF_FIELD}" value="${csrf}"><input type="hidden" name="next" value="${next}">
<label for="token">GitLab personal access token</label>
<input id="token" name="token" type="password" autocomplete="off" required spellcheck="false" aria-describedby="token-help">
<p id="token-help" class="help">A token of yours from <a href="${deps.gitlabUrl}/-/user_settings/personal_access_tokens">${deps.gitlabUrl}</a> with the <code>read_user</code> or <code>api</code> scope. Slipway asks GitLab who you are and does not keep the token.</p>
<button type="submit">Sign in</button></form></section>`,
    );
  };

  router.get('/sign-in', (req, res) => {
    if (sessionOf(res)) {
      res.redirect(303, localPath(req.query['next']));
      return;
    }
    showForm(req, res, 200);
  });

  router.post('/sign-in', form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const expected = readCookies(req.get('cookie')).get(SIGN_IN_CSRF_COOKIE) ?? '';
    if (!sameSecret(typeof body[CSRF_FIELD] === 'string' ? body[CSRF_FIELD] : '', expected)) {
      res.status(403).json({ error: `missing or invalid CSRF token: the sign-in form's ${CSRF_FIELD} field must match its cookie (load GET /sign-in again)` });
      return;
    }
    const token = typeof body['token'] === 'string' ? body['token'].trim() : '';
    if (!/^[\x21-\x7e]{1,255}$/.test(token)) {
      showForm(req, res, 400, 'Enter a GitLab personal access token (printable characters, no spaces).');
      return;
    }
    let user: Awaited<ReturnType<GitlabClient['signInUser']>>;
    try {
      user = await deps.gitlab.signInUser(token);
    } catch (err) {
      if (err instanceof GitlabApiError && (err.status === 401 || err.status === 403)) {
        deps.logger.info({ status: err.status }, 'web sign-in refused by GitLab');
        showForm(
          req,
          res,
          401,
          `GitLab did not accept that token (HTTP ${err.status}): it must be a valid personal access token with the read_user or api scope.`,
        );
        return;
      }
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'web sign-in: GitLab could not be asked');
      showForm(req, res, 502, 'GitLab could not be asked who the token belongs to; try again in a moment.');
      return;
    }
    const admin = user.isAdmin || deps.admins.some((a) => a.toLowerCase() === user.username.toLowerCase());
    const session = await deps.sessions.create(user, admin);
    res.clearCookie(SIGN_IN_CSRF_COOKIE, { path: '/' });
    res.cookie(SESSION_COOKIE, session.id, cookieOptions(req, deps.cookies, deps.sessions.ttlSeconds));
    deps.logger.info({ user: user.username, admin }, 'web sign-in');
    res.redirect(303, localPath(body['next']));
  });

  router.post('/sign-out', form, requireCsrf, async (req, res) => {
    const session = sessionOf(res);
    if (session) await deps.sessions.destroy(session.id);
    res.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: cookieOptions(req, deps.cookies, 0).secure });
    res.redirect(303, '/sign-in');
  });
  return router;
}
