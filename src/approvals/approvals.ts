import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import type { GitlabClient, GitlabUser } from '../gitlab/client.js';
import { GitlabApiError } from '../gitlab/errors.js';
import { withRedisLock } from '../runs/run-lock.js';
import type { RunStore } from '../runs/run-store.js';
import type { JobRecord, RunRecord } from '../runs/types.js';
import { CanaryPauses, type CanaryPause } from '../runs/canary-pause.js';
import { approvalCalendar } from '../gates/deploy-gate.js';
import { AuditLog, type AuditEntry, type DecisionSource } from './audit-log.js';
import { authorRole, authorsOf, checkApprover } from './eligibility.js';
import { describeRule, ruleOf, waitingReason, type ApprovalRule } from './rule.js';

/**
 * What approvals ask of the scheduler (wired in roles/http.ts), so this module does not import it.
 * Each is called under this module's per-step lock and must act only on a step still `manual`.
 */
export interface StepGate {
  /** Start the step now (the run runs again if it had ended waiting). */
  start(runId: string, job: string, reason: string): Promise<void>;
  /** End the step as failed with this reason, reported like any failure. */
  fail(runId: string, job: string, reason: string): Promise<void>;
  /** The step still waits: record and report its new reason. */
  stillWaiting(runId: string, job: string, reason: string): Promise<void>;
}

export interface ApprovalsDeps {
  store: RunStore;
  gitlab: GitlabClient;
  redis: Redis | Cluster;
  prefix: string;
  gate: StepGate;
}

export type DecisionInput = {
  runId: string;
  job: string;
  source: DecisionSource;
  /** Rejections only. */
  reason?: string;
} & (
  | {
      /** The approver's own GitLab personal access token: who they are is asked of GitLab. */
      gitlabToken: string;
    }
  | {
      /** The approver as GitLab already said in a delivery checked by its hook secret (a merge-request comment's author). */
      gitlabUser: GitlabUser;
    }
);

/** The answer to one decision; `status` is the HTTP status the API gives it. */
export type DecisionResult =
  | { status: 200; decision: 'approved' | 'rejected'; started: boolean; approvedBy: string[]; required: number; job: JobRecord; audit: string }
  | DecisionError;
export interface DecisionError {
  status: 400 | 401 | 403 | 404 | 409 | 502;
  error: string;
  rule?: string;
  audit?: string;
}

const RETENTION_SECONDS = 30 * 24 * 3600;

/** The approvals recorded for one step (a hash: user id → who and when). A retried step starts with none. */
export function approvalsKey(prefix: string, runId: string, job: string): string {
  return `${prefix}:approvals:${runId}:${job}`;
}
export const MAX_REASON = 1000;

/**
 * Approving and rejecting gated steps (a deploy waiting for approval, any manual job). Who decides
 * is the owner of the GitLab token sent along, and whether they may is asked of GitLab at that
 * moment. Approving is deploying: the approval that satisfies the rule starts the step. Every
 * decision made by a known person, allowed or refused, goes into the audit log.
 */
export class Approvals {
  readonly audit: AuditLog;
  private readonly pauses: CanaryPauses;

  constructor(private readonly deps: ApprovalsDeps) {
    this.audit = new AuditLog(deps.redis, deps.prefix);
    this.pauses = new CanaryPauses(deps.redis, deps.prefix);
  }

  /**
   * The canary pause a running deploy job waits at (`pause: {}`), or null. Such a job is decidable
   * like a `manual` one: an approval resumes the canary at its next step, a rejection aborts it.
   */
  async pausedAt(run: Pick<RunRecord, 'id' | 'jobs'>, job: string): Promise<CanaryPause | null> {
    if (run.jobs.find((j) => j.name === job)?.status.phase !== 'running') return null;
    return this.pauses.waiting(run.id, job);
  }

  approve(input: DecisionInput): Promise<DecisionResult> {
    return this.decide('approve', input);
  }

  reject(input: DecisionInput): Promise<DecisionResult> {
    const reason = input.reason?.trim() ?? '';
    if (reason === '') return Promise.resolve({ status: 400, error: 'a rejection needs a reason: send { "reason": "..." }' });
    if (reason.length > MAX_REASON) return Promise.resolve({ status: 400, error: `the reason is longer than ${MAX_REASON} characters` });
    return this.decide('reject', { ...input, reason });
  }

  private async decide(action: 'approve' | 'reject', input: DecisionInput): Promise<DecisionResult> {
    const { store, gitlab } = this.deps;
    const user = 'gitlabUser' in input ? input.gitlabUser : await this.identify(input.gitlabToken);
    if ('status' in user) return user;

    const run = await store.get(input.runId);
    if (!run) return { status: 404, error: `run ${input.runId} not found` };
    const planned = run.plan?.jobs.find((j) => j.name === input.job);
    if (!planned) return { status: 404, error: `run ${run.id} has no job '${input.job}'` };
    const rule = ruleOf(planned);
    // A manual job that is not a deploy belongs to the service the run deploys, if it deploys one.
    const service = (planned.kind === 'deploy' ? planned : run.plan?.jobs.find((j) => j.kind === 'deploy'))?.service ?? null;
    const path = run.request.project.path;
    const audit = async (outcome: AuditEntry['outcome'], detail: string, started = false) =>
      this.audit.append({
        at: new Date().toISOString(),
        action,
        outcome,
        started,
        user,
        source: input.source,
        project: { id: run.request.project.id, path },
        runId: run.id,
        job: planned.name,
        service,
        environment: planned.kind === 'deploy' ? planned.environment : null,
        sha: run.request.sha,
        digest: run.image?.digest ?? null,
        rule: describeRule(rule, path),
        detail,
        reason: input.reason ?? null,
      });
    const refuse = async (status: 403 | 409, why: string): Promise<DecisionResult> => ({
      status,
      error: why,
      rule: describeRule(rule, path),
      audit: await audit('refused', why),
    });

    const paused = planned.kind === 'deploy' ? await this.pausedAt(run, planned.name) : null;
    const notWaiting = paused ? undefined : notWaitingWhy(run, planned.name);
    if (notWaiting) return refuse(409, notWaiting);
    // Approving is deploying: not while the environment is frozen or outside its deploy windows.
    const closed = action === 'approve' && planned.kind === 'deploy' ? approvalCalendar(planned, new Date()) : undefined;
    if (closed) return refuse(409, closed);

    let verdict: Awaited<ReturnType<typeof checkApprover>>;
    try {
      verdict = await checkApprover(gitlab, rule, run.request.project, user);
      if (verdict.ok && action === 'approve' && !rule.allowAuthor) {
        const author = authorRole(await authorsOf(gitlab, run), user);
        if (author)
          verdict = { ok: false as const, why: `@${user.username} ${author.as}: authors may not approve their own change (approval.allow_author: false)` };
      }
    } catch (err) {
      return gitlabFailed(err);
    }
    if (!verdict.ok) return refuse(403, verdict.why);
    const via = verdict.via;

    // GitLab was asked outside the lock; the step's state is read again under it.
    return withRedisLock(this.deps.redis, `${this.deps.prefix}:lock:approval:${run.id}:${planned.name}`, async () => {
      if (paused) return this.decidePause(action, run, planned.name, paused, user, input, rule, via, audit, refuse);
      const job = await store.getJob(run.id, planned.name);
      if (job?.status.phase !== 'manual') return refuse(409, `${planned.name} is not waiting for an approval (it is ${job?.status.phase ?? 'gone'})`);
      const key = approvalsKey(this.deps.prefix, run.id, planned.name);
      if (action === 'reject') {
        await this.deps.gate.fail(run.id, planned.name, `rejected by @${user.username}: ${input.reason ?? ''}`);
        return this.answer('rejected', run.id, planned.name, false, await approvers(this.deps.redis, key), rule, await audit('rejected', via));
      }
      const { added, by } = await recordApproval(this.deps.redis, key, user, via, input.source);
      if (!added)
        return refuse(
          409,
          `@${user.username} already approved ${planned.name}: ${rule.required} distinct approvers are needed (approved by ${by.map((u) => `@${u}`).join(', ')})`,
        );
      const done = by.length >= rule.required;
      if (done) await this.deps.gate.start(run.id, planned.name, `approved by ${by.map((u) => `@${u}`).join(', ')}`);
      else await this.deps.gate.stillWaiting(run.id, planned.name, waitingReason(rule, by, path));
      const counted = `${via}; approval ${by.length} of ${rule.required}${done ? ': the step starts' : ''}`;
      return this.answer('approved', run.id, planned.name, done, by, rule, await audit('approved', counted, done));
    });
  }

  /** A decision on a canary waiting at a pause, recorded where the deploy job polls it (under the step's lock). */
  private async decidePause(
    action: 'approve' | 'reject',
    run: RunRecord,
    name: string,
    pause: CanaryPause,
    user: GitlabUser,
    input: DecisionInput,
    rule: ApprovalRule,
    via: string,
    audit: (outcome: AuditEntry['outcome'], detail: string, started?: boolean) => Promise<string>,
    refuse: (status: 403 | 409, why: string) => Promise<DecisionResult>,
  ): Promise<DecisionResult> {
    const now = await this.pauses.read(run.id, name, pause.step);
    if (!now || now.decision) return refuse(409, `${name} is no longer waiting at its canary pause (step ${pause.step} of ${pause.of})`);
    const at = `the canary pause at ${pause.weight}% (step ${pause.step} of ${pause.of})`;
    // Approvals are counted per pause: each pause of a canary needs its own.
    const key = approvalsKey(this.deps.prefix, run.id, `${name}:pause-${pause.step}`);
    if (action === 'reject') {
      const reason = input.reason ?? '';
      await this.pauses.decide(run.id, name, pause.step, { kind: 'rejected', by: user.username, reason, at: new Date().toISOString() });
      return this.answer(
        'rejected',
        run.id,
        name,
        false,
        await approvers(this.deps.redis, key),
        rule,
        await audit('rejected', `${via}; ${at}: the canary is aborted`),
      );
    }
    const { added, by } = await recordApproval(this.deps.redis, key, user, via, input.source);
    if (!added)
      return refuse(
        409,
        `@${user.username} already approved ${at}: ${rule.required} distinct approvers are needed (approved by ${by.map((u) => `@${u}`).join(', ')})`,
      );
    const done = by.length >= rule.required;
    if (done) await this.pauses.decide(run.id, name, pause.step, { kind: 'approved', by, at: new Date().toISOString() });
    else await this.deps.store.appendLog(run.id, name, 'system', `${at}: ${waitingReason(rule, by, run.request.project.path)}`);
    const counted = `${via}; ${at}: approval ${by.length} of ${rule.required}${done ? ': the canary resumes' : ''}`;
    return this.answer('approved', run.id, name, done, by, rule, await audit('approved', counted, done));
  }

  private async answer(
    decision: 'approved' | 'rejected',
    runId: string,
    name: string,
    started: boolean,
    approvedBy: string[],
    rule: ApprovalRule,
    audit: string,
  ): Promise<DecisionResult> {
    const job = await this.deps.store.getJob(runId, name);
    if (!job) return { status: 404, error: `run ${runId} has no job '${name}'` };
    return { status: 200, decision, started, approvedBy, required: rule.required, job, audit };
  }

  /** The GitLab user the token belongs to; a token GitLab refuses is the caller's problem (401). */
  private async identify(token: string): Promise<GitlabUser | DecisionError> {
    if (!/^[\x21-\x7e]{1,255}$/.test(token)) {
      return { status: 401, error: 'send your GitLab personal access token in the X-Gitlab-Approver-Token header: it says who approves' };
    }
    try {
      return await this.deps.gitlab.userOfToken(token);
    } catch (err) {
      if (err instanceof GitlabApiError && (err.status === 401 || err.status === 403)) {
        return {
          status: 401,
          error: `GitLab refused the token in X-Gitlab-Approver-Token (HTTP ${err.status}): it must be a valid personal access token with the read_user or api scope`,
        };
      }
      return gitlabFailed(err);
    }
  }
}

const approvalSchema = z.object({ username: z.string(), at: z.string() });

/** Usernames of the approvals recorded for a step, oldest first. */
/** Records `user`'s approval under `key` once (a second one by the same person adds nothing); says whether it was new and who has approved so far. */
async function recordApproval(
  redis: Redis | Cluster,
  key: string,
  user: GitlabUser,
  via: string,
  source: DecisionInput['source'],
): Promise<{ added: boolean; by: string[] }> {
  const added = await redis.hsetnx(key, String(user.id), JSON.stringify({ username: user.username, at: new Date().toISOString(), via, source }));
  await redis.expire(key, RETENTION_SECONDS);
  return { added: added === 1, by: await approvers(redis, key) };
}

async function approvers(redis: Redis | Cluster, key: string): Promise<string[]> {
  const all = await redis.hgetall(key);
  return Object.entries(all)
    .map(([userId, v]) => {
      const r = approvalSchema.safeParse(JSON.parse(v));
      if (!r.success) throw new Error(`${key}: the approval of user ${userId} is not readable: ${r.error.issues[0]?.message ?? ''}`);
      return r.data;
    })
    .sort((a, b) => a.at.localeCompare(b.at))
    .map((a) => a.username);
}

function notWaitingWhy(run: RunRecord, name: string): string | undefined {
  if (run.status.phase === 'canceled' || run.status.phase === 'skipped') return `run ${run.id} is ${run.status.phase}: ${run.status.reason}`;
  const job = run.jobs.find((j) => j.name === name);
  if (job?.status.phase === 'manual') return undefined;
  return `${name} is not waiting for an approval (it is ${job?.status.phase ?? 'not recorded'}${job ? `: ${job.status.reason}` : ''})`;
}

function gitlabFailed(err: unknown): DecisionError {
  if (err instanceof GitlabApiError) return { status: 502, error: `could not check the approver with GitLab: ${err.message}` };
  throw err;
}
