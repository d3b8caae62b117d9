import type { Cluster, Redis } from 'ioredis';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Approvals } from '../approvals/approvals.js';
import type { DoraDeps } from '../dora/dora.js';
import type { ReleaseHistories } from '../releases/release-history.js';
import type { RollbackJobData } from '../releases/rollback.js';
import type { OAuthConfig } from '../config/config.js';
import type { GitlabClient } from '../gitlab/client.js';
import { createOAuthClient, OAuthTokenError } from '../gitlab/oauth.js';
import { OAUTH_SCOPE } from '../config/oauth-config.js';
import type { Logger } from '../logging/logger.js';
import { CanaryPauses } from '../runs/canary-pause.js';
import type { RunStore } from '../runs/run-store.js';
import type { RunRecord } from '../runs/types.js';
import { Access } from './access.js';
import { createApprovalsInbox } from './approvals-inbox.js';
import { createEnvironmentsPages } from './environments-page.js';
import { createAssets } from './assets.js';
import { type CookiePolicy, loadSession, SESSION_COOKIE, sessionOf } from './guard.js';
import { sendProblem } from './layout.js';
import { createLogStream } from './log-stream.js';
import { createPipelinesPage } from './pipelines-page.js';
import { createRunActions } from './run-actions.js';
import { createRunPage } from './run-page.js';
import { SessionStore } from './sessions.js';
import { createSignIn } from './sign-in.js';
import { createOAuthSignIn } from './oauth-sign-in.js';
import { SignInEndedError, tokenRenewal } from './oauth-session.js';

export interface WebUiDeps {
  store: RunStore;
  gitlab: GitlabClient;
  gitlabUrl: string;
  approvals: Approvals;
  redis: Redis | Cluster;
  prefix: string;
  cookies: CookiePolicy;
  admins: readonly string[];
  sessionTtlSeconds: number;
  /** Sign-in with GitLab OAuth, when configured; `apiUrl` is where Slipway reaches GitLab (GITLAB_URL). */
  oauth?: OAuthConfig & { apiUrl: string };
  logger: Logger;
  cancel: (run: RunRecord, reason: string) => Promise<string[]>;
  enqueuePlan: (runId: string) => Promise<void>;
  /** The environments matrix and release histories. */
  histories: ReleaseHistories;
  dora: DoraDeps;
  /** Queues a rollback on demand on the deploy queue. */
  enqueueRollback: (job: RollbackJobData) => Promise<void>;
}

export interface WebUi {
  /** Pages, forms, the log stream and the assets; mounted before the API. */
  router: Router;
  /**
   * In front of the queue dashboard: a signed-in admin passes for reading (GET and HEAD; bull-board
   * runs read-only and a cookie alone must never change anything), everyone else is sent to sign
   * in (a browser) or refused. The API token is checked before this, by the caller.
   */
  adminOnly: RequestHandler;
}

export function createWebUi(deps: WebUiDeps): WebUi {
  const sessions = new SessionStore(deps.redis, deps.prefix, deps.sessionTtlSeconds);
  const access = new Access(deps.gitlab, sessions);
  const router = express.Router();
  const oauth = deps.oauth
    ? createOAuthClient({ url: deps.oauth.apiUrl, clientId: deps.oauth.appId, clientSecret: deps.oauth.secret, redirectUri: deps.oauth.redirectUri })
    : undefined;
  const renew = oauth ? tokenRenewal({ sessions, redis: deps.redis, oauth, logger: deps.logger }) : undefined;
  const load = loadSession(sessions, renew);
  router.use(createAssets());
  router.use(load);
  router.use(
    createSignIn({
      gitlab: deps.gitlab,
      sessions,
      cookies: deps.cookies,
      admins: deps.admins,
      gitlabUrl: deps.gitlabUrl,
      oauth: oauth !== undefined,
      logger: deps.logger,
    }),
  );
  if (deps.oauth && oauth) {
    router.use(
      createOAuthSignIn({
        gitlab: deps.gitlab,
        oauth,
        sessions,
        redis: deps.redis,
        prefix: deps.prefix,
        cookies: deps.cookies,
        admins: deps.admins,
        authorizeBase: deps.oauth.authorizeBase,
        clientId: deps.oauth.appId,
        redirectUri: deps.oauth.redirectUri,
        scope: OAUTH_SCOPE,
        logger: deps.logger,
      }),
    );
  }
  router.use(createPipelinesPage({ store: deps.store, access }));
  router.use(createRunPage({ store: deps.store, access, pausedAt: async (run, job) => (await deps.approvals.pausedAt(run, job)) !== null }));
  router.use(createLogStream({ store: deps.store, access }));
  router.use(
    createRunActions({ store: deps.store, access, approvals: deps.approvals, logger: deps.logger, cancel: deps.cancel, enqueuePlan: deps.enqueuePlan }),
  );
  router.use(createApprovalsInbox({ store: deps.store, access, pauses: new CanaryPauses(deps.redis, deps.prefix) }));
  router.use(
    createEnvironmentsPages({
      histories: deps.histories,
      dora: deps.dora,
      store: deps.store,
      access,
      audit: deps.approvals.audit,
      enqueueRollback: deps.enqueueRollback,
      logger: deps.logger,
    }),
  );

  // An OAuth sign-in GitLab no longer accepts ends here: the session goes, the browser signs in again.
  router.use(async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (err instanceof SignInEndedError) {
      await sessions.destroy(err.sessionId);
      res.clearCookie(SESSION_COOKIE, { path: '/' });
      deps.logger.info({}, 'web session ended: GitLab refused its OAuth token');
      if (req.method === 'GET' && req.accepts(['json', 'html']) === 'html') res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
      else res.status(401).json({ error: 'GitLab no longer accepts your sign-in: sign in again (GET /sign-in)' });
      return;
    }
    if (err instanceof OAuthTokenError) {
      sendProblem(req, res, 502, `${err.message}: your GitLab sign-in could not be renewed; try again in a moment`, undefined, '/sign-in');
      return;
    }
    next(err);
  });

  const adminOnly: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    void load(req, res, () => {
      const session = sessionOf(res);
      if (!session) {
        if (req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
          res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
          return;
        }
        res.status(401).json({ error: 'sign in as an admin, or send the API token: Authorization: Bearer <SLIPWAY_API_TOKEN>' });
        return;
      }
      if (!session.admin) {
        sendProblem(req, res, 403, 'the queue dashboard is for admins only (GitLab administrators and SLIPWAY_ADMINS)', session, '/pipelines');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.status(403).json({ error: 'the queue dashboard is read-only here: a session may only read it' });
        return;
      }
      next();
    }).catch(next);
  };
  return { router, adminOnly };
}
