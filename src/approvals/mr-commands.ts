import type { GitlabClient } from '../gitlab/client.js';
import type { RunStore } from '../runs/run-store.js';
import type { MrCommand } from '../triggers/mr-command.js';
import { GitlabApiError } from '../gitlab/errors.js';
import type { RunRecord } from '../runs/types.js';
import type { Approvals, DecisionResult } from './approvals.js';
import { checkApprover } from './eligibility.js';
import { ACCESS_LEVELS } from './rule.js';

export interface MrCommandDeps {
  approvals: Approvals;
  store: RunStore;
  gitlab: GitlabClient;
  /** Writes the answer into Slipway's one note on the merge request (the reporter, wired in roles/http.ts). */
  answer(projectId: number, iid: number, line: string): Promise<void>;
  /** Cancels what is open in the run (the scheduler, wired in roles/http.ts); returns the jobs canceled. */
  cancel(run: RunRecord, reason: string): Promise<string[]>;
  /** Retries the run's failed and canceled jobs (the scheduler, wired in roles/http.ts). */
  retry(run: RunRecord, reason: string): Promise<{ retried: string[] } | { refused: string }>;
}

/** Who may cancel or retry a run from a comment: a Developer or higher, as GitLab lets Developers cancel and retry pipelines. */
const CANCEL_RULE = { required: 1, minAccess: ACCESS_LEVELS.developer, groups: [], users: [], allowAuthor: true } as const;

/**
 * Carries out a command from a merge-request comment for the comment's author: approvals go through
 * the same decision (permission asked of GitLab, audit entry with source "comment") as the API.
 * Our own notes are ignored silently; everything else is answered in the MR note. Returns the
 * answer (undefined: ignored silently).
 */
export async function runMrCommand(deps: MrCommandDeps, cmd: MrCommand): Promise<string | undefined> {
  // Our own notes never act, even if one ever started with a command.
  if (cmd.user.id === (await deps.gitlab.selfId())) return undefined;
  const said = `@${cmd.user.username} /${cmd.name}${cmd.arg ? ` ${cmd.arg}` : ''}`;
  const reply = async (result: string) => {
    const line = `${said}: ${result}`;
    await deps.answer(cmd.project.id, cmd.iid, line);
    return line;
  };
  if (cmd.refused) return reply(`not acted on: ${cmd.refused}`);

  const latest = await deps.store.latestOfMergeRequest(cmd.project.id, cmd.iid);
  const run = latest ? await deps.store.get(latest.id) : null;
  if (!run?.plan) return reply(`not acted on: merge request !${cmd.iid} has no planned Slipway run`);

  if (cmd.name === 'cancel' || cmd.name === 'retry') {
    let verdict: Awaited<ReturnType<typeof checkApprover>>;
    try {
      verdict = await checkApprover(deps.gitlab, CANCEL_RULE, cmd.project, cmd.user);
    } catch (err) {
      if (err instanceof GitlabApiError) return reply(`not acted on: could not check the author with GitLab: ${err.message}`);
      throw err;
    }
    if (!verdict.ok) return reply(`refused: ${verdict.why.replace('may decide this step', `may ${cmd.name} a run`)}`);
    if (cmd.name === 'retry') {
      const result = await deps.retry(run, `retried by @${cmd.user.username} from merge request !${cmd.iid}`);
      return reply('refused' in result ? `not acted on: ${result.refused}` : `retrying run ${run.id} (${result.retried.join(', ')})`);
    }
    const canceled = await deps.cancel(run, `canceled by @${cmd.user.username} from merge request !${cmd.iid}`);
    return reply(canceled.length === 0 ? `not acted on: nothing in run ${run.id} is still open` : `canceled run ${run.id} (${canceled.join(', ')})`);
  }

  let job: string;
  if (cmd.name === 'deploy') {
    if (!cmd.arg) return reply('not acted on: name the environment, e.g. /deploy production');
    const step = run.plan.jobs.find((j) => j.kind === 'deploy' && j.environment === cmd.arg);
    if (!step) {
      const envs = run.plan.jobs.flatMap((j) => (j.kind === 'deploy' ? [j.environment] : []));
      return reply(`not acted on: run ${run.id} deploys to no environment '${cmd.arg}' (it deploys to: ${envs.join(', ') || 'none'})`);
    }
    job = step.name;
  } else {
    // A deploy whose canary waits at a `pause: {}` is decided like a manual step.
    const paused = await Promise.all(
      run.jobs.filter((j) => j.status.phase === 'running').map(async (j) => ((await deps.approvals.pausedAt(run, j.name)) ? [j.name] : [])),
    );
    const waiting = [...run.jobs.filter((j) => j.status.phase === 'manual').map((j) => j.name), ...paused.flat()];
    if (waiting.length === 0) return reply(`not acted on: nothing in run ${run.id} waits for an approval`);
    if (waiting.length > 1) return reply(`not acted on: several steps of run ${run.id} wait (${waiting.join(', ')}): name one with /deploy <environment>`);
    job = waiting[0] ?? '';
  }

  const input = { runId: run.id, job, gitlabUser: cmd.user, source: 'comment' as const };
  const result: DecisionResult = cmd.name === 'reject' ? await deps.approvals.reject({ ...input, reason: cmd.arg }) : await deps.approvals.approve(input);
  if (result.status !== 200) return reply(`refused: ${result.error}`);
  if (result.decision === 'rejected') return reply(`rejected ${job} of run ${run.id}`);
  const by = result.approvedBy.map((u) => `@${u}`).join(', ');
  return reply(result.started ? `approved ${job} of run ${run.id} (by ${by}): it runs now` : `approved ${job} of run ${run.id}: ${result.job.status.reason}`);
}
