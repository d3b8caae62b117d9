import type { GitlabClient, GitlabUser } from '../gitlab/client.js';
import { GitlabApiError } from '../gitlab/errors.js';
import type { RunSummary } from '../runs/types.js';
import { roleName, whoMayApprove, type ApprovalRule } from './rule.js';

export type Verdict = { ok: true; via: string } | { ok: false; why: string };

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * May this person approve (or reject) a step under this rule? Asked of GitLab now, not when the
 * run was planned: a role granted or taken away since counts. Listed users first (no call), then
 * the project access level, then each group; the first that holds says why.
 */
export async function checkApprover(gitlab: GitlabClient, rule: ApprovalRule, project: { id: number; path: string }, user: GitlabUser): Promise<Verdict> {
  if (rule.users.some((u) => same(u, user.username))) return { ok: true, via: `@${user.username} is listed in approval.users` };
  let level: number | null = null;
  if (rule.minAccess !== null) {
    level = await gitlab.memberAccessLevel(project.id, user.id);
    if (level !== null && level >= rule.minAccess) return { ok: true, via: `@${user.username} is ${roleName(level)} (${level}) of ${project.path}` };
  }
  for (const group of rule.groups) {
    if ((await groupLevel(gitlab, group, user.id)) !== null) return { ok: true, via: `@${user.username} is a member of ${group}` };
  }
  const is = rule.minAccess === null ? '' : level === null ? ` is not a member of ${project.path}` : ` is ${roleName(level)} (${level}) of ${project.path}`;
  const notIn = rule.groups.length > 0 ? `${is ? ',' : ''} is in none of ${rule.groups.join(', ')}` : '';
  const notListed = rule.users.length > 0 ? `${is || notIn ? ',' : ''} is not listed in approval.users` : '';
  return { ok: false, why: `@${user.username}${is}${notIn}${notListed}: only ${whoMayApprove(rule, project.path)} may decide this step` };
}

/** A group GitLab does not know (a typo in the file) counts as not a member. */
async function groupLevel(gitlab: GitlabClient, group: string, userId: number): Promise<number | null> {
  try {
    return await gitlab.groupMemberAccessLevel(group, userId);
  } catch (err) {
    if (err instanceof GitlabApiError && err.status === 404) return null;
    throw err;
  }
}

export interface Author {
  username: string;
  /** How they took part: "triggered the pipeline", "wrote merge request !7". */
  as: string;
}

/**
 * The change's authors: who triggered the pipeline (the pusher, the merger) and, for a merge
 * request, its author, read from GitLab now. Commit authors are not GitLab identities, so they do
 * not count.
 */
export async function authorsOf(gitlab: GitlabClient, run: Pick<RunSummary, 'request'>): Promise<Author[]> {
  const { request } = run;
  const out: Author[] = [];
  if (request.actor) out.push({ username: request.actor, as: 'triggered the pipeline' });
  if (request.mergeRequest) {
    const author = await gitlab.mergeRequestAuthor(request.project.id, request.mergeRequest.iid);
    if (author) out.push({ username: author.username, as: `wrote merge request !${request.mergeRequest.iid}` });
  }
  return out;
}

export function authorRole(authors: readonly Author[], user: GitlabUser): Author | undefined {
  return authors.find((a) => same(a.username, user.username));
}
