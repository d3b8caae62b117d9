import type { Cluster, Redis } from 'ioredis';
import { type OAuthClient, OAuthTokenError } from '../gitlab/oauth.js';
import type { Logger } from '../logging/logger.js';
import { withRedisLock } from '../runs/run-lock.js';
import type { OpenSession, SessionStore } from './sessions.js';

/** GitLab no longer accepts the person's OAuth token (revoked in GitLab, or the application removed): they sign in again. */
export class SignInEndedError extends Error {
  constructor(readonly sessionId: string) {
    super('GitLab no longer accepts this sign-in: sign in again');
    this.name = 'SignInEndedError';
  }
}

/** Refreshed this long before GitLab's expiry, so a lookup never goes out with a token about to lapse. */
const REFRESH_EARLY_MS = 60_000;

/**
 * Keeps an OAuth session's access token fresh: when it expires within a minute it is refreshed at
 * GitLab's token endpoint (under a per-session lock: GitLab revokes a refresh token once used, so two
 * requests of one browser must not both use it). null: GitLab refused the refresh (revoked), and the
 * session is deleted. A token endpoint that cannot be asked throws OAuthTokenError (`unavailable`).
 * Sessions from a personal access token pass unchanged.
 */
export function tokenRenewal(deps: { sessions: SessionStore; redis: Redis | Cluster; oauth: OAuthClient; logger: Logger }) {
  const due = (s: OpenSession) => s.oauth !== undefined && s.oauth.expiresAt - REFRESH_EARLY_MS <= Date.now();
  return async (session: OpenSession): Promise<OpenSession | null> => {
    if (!due(session)) return session;
    return withRedisLock(
      deps.redis,
      deps.sessions.refreshLockKey(session.id),
      async () => {
        const now = await deps.sessions.get(session.id);
        if (!now?.oauth || !due(now)) return now; // signed out meanwhile, or another request refreshed
        try {
          const tokens = await deps.oauth.refresh(now.oauth.refreshToken);
          if (!(await deps.sessions.replaceTokens(now, tokens))) return null;
          deps.logger.info({ user: now.user.username }, 'web session: GitLab OAuth token refreshed');
          return { ...now, oauth: tokens };
        } catch (err) {
          if (err instanceof OAuthTokenError && err.kind === 'refused') {
            await deps.sessions.destroy(now.id);
            deps.logger.info({ user: now.user.username, code: err.code }, 'web session ended: GitLab refused to refresh its OAuth token');
            return null;
          }
          throw err;
        }
      },
      { ttlMs: 30_000, waitMs: 35_000 },
    );
  };
}
