import { checkApprover, authorRole, authorsOf } from '../approvals/eligibility.js';
import { ruleOf } from '../approvals/rule.js';
import type { GitlabClient } from '../gitlab/client.js';
import { GitlabApiError } from '../gitlab/errors.js';
import type { PlannedJob } from '../planning/plan-types.js';
import type { RunSummary } from '../runs/types.js';
import { SignInEndedError } from './oauth-session.js';
import type { OpenSession, SessionStore } from './sessions.js';

/** GitLab's access levels (doc/api/members.md): who sees runs, who acts on them. */
export const REPORTER = 20;
export const DEVELOPER = 30;
export const MAINTAINER = 40;

/**
 * Roles come from GitLab: a Reporter or higher of a project sees its runs and logs (as in GitLab),
 * a Developer or higher cancels and retries them, and approve / play buttons show only to people
 * the step's rule lets decide (the approvals code checks again when they press it). GitLab
 * administrators see every project.
 */
export class Access {
  constructor(
    private readonly gitlab: GitlabClient,
    private readonly sessions: SessionStore,
  ) {}

  /**
   * Asked with the person's own OAuth token when they signed in with GitLab OAuth (what GitLab shows
   * them), else with Slipway's token. An OAuth token GitLab refuses ends the sign-in (SignInEndedError).
   */
  async level(session: OpenSession, projectId: number): Promise<number | null> {
    const cached = await this.sessions.cachedAccess(session.id, projectId);
    if (cached !== undefined) return cached;
    const level = session.oauth
      ? await this.gitlab.memberAccessLevelOAuth(session.oauth.accessToken, projectId, session.user.id).catch((err: unknown) => {
          if (err instanceof GitlabApiError && err.status === 401) throw new SignInEndedError(session.id);
          throw err;
        })
      : await this.gitlab.memberAccessLevel(projectId, session.user.id);
    await this.sessions.cacheAccess(session.id, projectId, level);
    return level;
  }

  async canView(session: OpenSession, projectId: number): Promise<boolean> {
    if (session.user.isAdmin) return true;
    return ((await this.level(session, projectId)) ?? 0) >= REPORTER;
  }

  async canOperate(session: OpenSession, projectId: number): Promise<boolean> {
    if (session.user.isAdmin) return true;
    return ((await this.level(session, projectId)) ?? 0) >= DEVELOPER;
  }

  /** Rollback and resume of an environment: Maintainers and Owners of the project (GitLab's protected-environment default). */
  async canMaintain(session: OpenSession, projectId: number): Promise<boolean> {
    if (session.user.isAdmin) return true;
    return ((await this.level(session, projectId)) ?? 0) >= MAINTAINER;
  }

  /** May this person approve (or play) a step waiting as manual? ok, or why not (shown instead of the buttons). */
  async mayDecide(session: OpenSession, run: RunSummary, job: PlannedJob): Promise<{ ok: true } | { ok: false; why: string }> {
    const rule = ruleOf(job);
    const verdict = await checkApprover(this.gitlab, rule, run.request.project, session.user);
    if (!verdict.ok) return { ok: false, why: verdict.why };
    if (!rule.allowAuthor) {
      const author = authorRole(await authorsOf(this.gitlab, run), session.user);
      if (author) return { ok: false, why: `you ${author.as}: authors may not approve their own change` };
    }
    return { ok: true };
  }
}
