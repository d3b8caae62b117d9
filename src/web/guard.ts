import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { OpenSession, SessionStore } from './sessions.js';

export const SESSION_COOKIE = 'slipway_session';
/** Before sign-in there is no session: the sign-in form's CSRF token is a cookie of its own (double submit). */
export const SIGN_IN_CSRF_COOKIE = 'slipway_signin_csrf';
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

export interface CookiePolicy {
  /** SLIPWAY_PUBLIC_URL is https. */
  publicHttps: boolean;
  /** SLIPWAY_TRUST_PROXY: believe X-Forwarded-Proto. */
  trustProxy: boolean;
}

/** Cookies by name; a malformed pair is skipped. */
export function readCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    try {
      if (!out.has(name)) out.set(name, decodeURIComponent(part.slice(eq + 1).trim()));
    } catch {
      // not percent-encoded properly: not one of ours
    }
  }
  return out;
}

/** Secure when the public address is https, or the request came through a trusted proxy over https. */
export function isSecure(req: Request, policy: CookiePolicy): boolean {
  if (policy.publicHttps) return true;
  return policy.trustProxy && (req.get('x-forwarded-proto') ?? '').split(',')[0]?.trim().toLowerCase() === 'https';
}

export function cookieOptions(req: Request, policy: CookiePolicy, maxAgeSeconds: number) {
  return { httpOnly: true, sameSite: 'lax' as const, secure: isSecure(req, policy), path: '/', maxAge: maxAgeSeconds * 1000 };
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export function sessionOf(res: Response): OpenSession | undefined {
  return res.locals['session'] as OpenSession | undefined;
}

/** The session of a request that passed requireSignIn. */
export function signedIn(res: Response): OpenSession {
  const s = sessionOf(res);
  if (!s) throw new Error('requireSignIn must run before this handler');
  return s;
}

/**
 * Finds the session named by the cookie (none: the request goes on signed out). `renew` keeps an
 * OAuth session's GitLab token fresh; when it ends the session (null), the cookie is cleared.
 */
export function loadSession(sessions: SessionStore, renew?: (s: OpenSession) => Promise<OpenSession | null>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    // The API is the API token's alone: a session never counts there, so it is not even looked up.
    if (req.originalUrl.startsWith('/api/')) {
      next();
      return;
    }
    const id = readCookies(req.get('cookie')).get(SESSION_COOKIE);
    if (id !== undefined) {
      const found = await sessions.get(id);
      const session = found && renew ? await renew(found) : found;
      if (session) res.locals['session'] = session;
      else if (found) res.clearCookie(SESSION_COOKIE, { path: '/' });
    }
    next();
  };
}

/**
 * Pages send a browser that is not signed in to the sign-in form (coming back here after, by path
 * only); streams and other machine requests get 401 JSON.
 */
export function requireSignIn(kind: 'page' | 'json') {
  return (req: Request, res: Response, next: NextFunction) => {
    if (sessionOf(res)) {
      next();
      return;
    }
    if (kind === 'page' && req.method === 'GET') {
      res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    res.status(401).json({ error: 'sign in first: this page needs a Slipway session (GET /sign-in)' });
  };
}

/** Every state-changing request carries the session's CSRF token in the form field or the header, or is refused. */
export function requireCsrf(req: Request, res: Response, next: NextFunction): void {
  const session = sessionOf(res);
  const body: unknown = req.body;
  const field = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[CSRF_FIELD] : undefined;
  const given = typeof field === 'string' ? field : (req.get(CSRF_HEADER) ?? '');
  if (!session) {
    res.status(401).json({ error: 'sign in first: this action needs a Slipway session' });
    return;
  }
  if (!sameSecret(given, session.csrf)) {
    res.status(403).json({
      error: `missing or invalid CSRF token: send the session's token in the ${CSRF_FIELD} form field or the ${CSRF_HEADER} header (reload the page to get it)`,
    });
    return;
  }
  next();
}

/** A safe place to go after signing in: a path on this site, never another origin. */
export function localPath(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/pipelines';
}
