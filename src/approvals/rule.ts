import type { PlannedJob } from '../planning/plan-types.js';

/** GitLab's access levels (doc/api/members.md, "Roles") that a pipeline file may name. */
export const ACCESS_LEVELS = { developer: 30, maintainer: 40, owner: 50 } as const;

const ROLE_NAMES: Readonly<Record<number, string>> = { 10: 'Guest', 20: 'Reporter', 30: 'Developer', 40: 'Maintainer', 50: 'Owner' };

/** Who may approve one gated step, with every default applied. */
export interface ApprovalRule {
  /** Distinct people who must approve before the step starts. */
  required: number;
  /** This project access level or higher qualifies; null = the access level alone does not. */
  minAccess: number | null;
  /** Members of these GitLab groups (paths) qualify. */
  groups: readonly string[];
  /** These GitLab usernames qualify. */
  users: readonly string[];
  /** May the change's author approve it? */
  allowAuthor: boolean;
}

/**
 * Pure: the rule of a gated step. A deploy with `approval:` gets its environment's rule: a
 * Maintainer unless `groups` or `users` narrow it (then `min_access` only if written), authors
 * excluded on production. A manual job (any other `when: manual`) may be started by one Developer
 * or higher, as GitLab lets Developers play manual jobs; authors included.
 */
export function ruleOf(job: PlannedJob): ApprovalRule {
  if (job.kind !== 'deploy' || !job.approval) {
    return { required: 1, minAccess: ACCESS_LEVELS.developer, groups: [], users: [], allowAuthor: true };
  }
  const a = job.approval;
  const named = a.groups.length > 0 || a.users.length > 0;
  return {
    required: a.required,
    minAccess: a.minAccess !== undefined ? ACCESS_LEVELS[a.minAccess] : named ? null : ACCESS_LEVELS.maintainer,
    groups: a.groups,
    users: a.users,
    allowAuthor: a.allowAuthor ?? job.environment !== 'production',
  };
}

export function roleName(level: number): string {
  return ROLE_NAMES[level] ?? `access level ${level}`;
}

function article(word: string): string {
  return /^[AEIOU]/.test(word) ? `an ${word}` : `a ${word}`;
}

/** Pure: "a Maintainer of team/shop-api or a member of team/release or @alice". */
export function whoMayApprove(rule: ApprovalRule, projectPath: string): string {
  const parts: string[] = [];
  if (rule.minAccess !== null) parts.push(`${article(roleName(rule.minAccess))} of ${projectPath}`);
  for (const g of rule.groups) parts.push(`a member of ${g}`);
  for (const u of rule.users) parts.push(`@${u}`);
  return parts.join(' or ');
}

/** Pure: the rule in one line, for the audit log and refusals. */
export function describeRule(rule: ApprovalRule, projectPath: string): string {
  const count = rule.required === 1 ? '1 approval' : `${rule.required} approvals from distinct people`;
  return `${count} by ${whoMayApprove(rule, projectPath)}${rule.minAccess !== null ? ' (or a higher role)' : ''}${rule.allowAuthor ? '' : '; authors excluded'}`;
}

/** Pure: what a waiting step says, e.g. "waiting: 1 more approval by a Maintainer of team/shop-api; authors excluded". */
export function waitingReason(rule: ApprovalRule, approvedBy: readonly string[], projectPath: string): string {
  const more = Math.max(rule.required - approvedBy.length, 0);
  const so = approvedBy.length > 0 ? ` (approved by ${approvedBy.map((u) => `@${u}`).join(', ')})` : '';
  return `waiting: ${more} more approval${more === 1 ? '' : 's'} by ${whoMayApprove(rule, projectPath)}${rule.allowAuthor ? '' : '; authors excluded'}${so}`;
}
