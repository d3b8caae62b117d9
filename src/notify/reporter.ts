import type { GitlabClient } from '../gitlab/client.js';
import type { Logger } from '../logging/logger.js';
import type { JobView, RunStore } from '../runs/run-store.js';
import type { JobRecord, RunSummary } from '../runs/types.js';
import { eventOfJob, eventOfRun } from './chat-events.js';
import type { ChatNotifier } from './chat-notifier.js';
import type { Outbox } from './outbox.js';
import { statusFor } from './commit-status.js';
import { mirrorDeployment } from './gitlab-deployment.js';
import { inline } from './markdown.js';
import { runSummaryMarkdown } from './run-summary.js';

/**
 * A job's record as the caller just wrote it (what `RunStore.updateJob` returned), with the run it
 * belongs to: reported as it is, without reading the run again.
 */
export interface WrittenJob {
  run: Pick<RunSummary, 'id' | 'request'>;
  job: JobRecord;
}

export interface Reporter {
  /**
   * After a job changed phase: the commit status for that job (and chat, GitLab's deployment).
   * With `written`, the status is what the caller wrote; pass it only where no other writer can
   * change the job between that write and this post (the job's own worker, the scheduler under
   * its lock), so the last status GitLab gets is still the job's last phase. Without it, the job
   * is read from Redis first.
   */
  jobChanged(runId: string, jobName: string, written?: WrittenJob): Promise<void>;
  /** After the run changed phase: the MR note (and a `slipway/pipeline` status when it failed before any job). */
  runChanged(runId: string): Promise<void>;
  /**
   * The answer to a command from the merge request's comments: kept, and shown as the note's
   * "Commands" line under the latest run's summary (the same note, never a new comment).
   */
  commandAnswered(projectId: number, iid: number, answer: string): Promise<void>;
  /** Writes that note from Redis now (the outbox's dispatcher calls it); throws when GitLab fails. */
  writeCommandNote(projectId: number, iid: number): Promise<void>;
}

/**
 * Everything reported comes from the run record, so GitLab, the API and the UI never disagree.
 * Reporting never fails a run: the GitLab client retries, and a final failure is logged.
 */
export function createReporter(deps: {
  gitlab: GitlabClient;
  store: RunStore;
  publicUrl: string;
  logger: Logger;
  chat?: ChatNotifier;
  /** Where command answers wait until the note is written (the outbox). */
  outbox: Pick<Outbox, 'mergeRequestNote'>;
}): Reporter {
  const { gitlab, store, publicUrl, logger, chat, outbox } = deps;

  const commandsLine = async (projectId: number, iid: number) => {
    const answer = await store.mrCommandAnswer(projectId, iid);
    return answer === null ? '' : `\n\n**Commands:** ${inline(answer, 600)}`;
  };

  const note = async (runId: string) => {
    const run = await store.summary(runId);
    const mr = run?.request.mergeRequest;
    if (!run || !mr) return;
    const commands = await commandsLine(run.request.project.id, mr.iid);
    await gitlab.upsertMergeRequestNote(run.request.project.id, mr.iid, 'run-summary', runSummaryMarkdown(run, publicUrl) + commands);
  };

  const guarded = async (what: string, runId: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      logger.warn({ err, run: runId }, `could not report ${what} to GitLab`);
    }
  };

  return {
    async jobChanged(runId, jobName, written) {
      await guarded('commit status', runId, async () => {
        // A deploy job's report needs the run's deployments and its GitLab deployment as they are now:
        // always read. No other kind of job's report looks at the deployments.
        const view: JobView | null =
          written && written.job.kind !== 'deploy'
            ? { run: { id: written.run.id, request: written.run.request, deployments: [] }, job: written.job }
            : await store.jobView(runId, jobName);
        if (!view) return;
        const { run, job } = view;
        // Chat channels hear of the same change (in the background: a slow chat never delays a run).
        const event = chat ? eventOfJob(run, job, publicUrl) : undefined;
        if (event) await chat?.notify(event);
        // GitLab's Environments page: a guard of its own (mirrorDeployment never throws), so the commit status is posted either way.
        await mirrorDeployment({ gitlab, store, logger }, run, job);
        const post = statusFor(run, job, publicUrl);
        if (!post) return;
        await gitlab.setCommitStatus(run.request.project.id, post.sha, {
          state: post.state,
          name: post.name,
          ref: post.ref,
          targetUrl: post.targetUrl,
          description: post.description,
          ...(post.coverage !== undefined ? { coverage: post.coverage } : {}),
        });
      });
    },
    async runChanged(runId) {
      await guarded('run summary', runId, async () => {
        const run = await store.summary(runId);
        if (!run) return;
        const event = chat ? eventOfRun(run, publicUrl) : undefined;
        if (event) await chat?.notify(event);
        if (run.status.phase === 'failed' && run.jobs.length === 0) {
          const post = statusFor(run, { name: 'pipeline', status: { phase: 'failed', reason: run.status.reason, at: run.status.at } }, publicUrl);
          if (post) {
            await gitlab.setCommitStatus(run.request.project.id, post.sha, {
              state: post.state,
              name: post.name,
              ref: post.ref,
              targetUrl: post.targetUrl,
              description: post.description,
            });
          }
        }
        await note(runId);
      });
    },
    async commandAnswered(projectId, iid, answer) {
      // Kept in Redis, then in the outbox: a process that stops before GitLab is told still tells it after a restart.
      await store.setMrCommandAnswer(projectId, iid, answer);
      await outbox.mergeRequestNote(projectId, iid);
    },
    async writeCommandNote(projectId, iid) {
      const run = await store.latestOfMergeRequest(projectId, iid);
      if (run) await note(run.id);
      else await gitlab.upsertMergeRequestNote(projectId, iid, 'run-summary', `### Slipway${await commandsLine(projectId, iid)}`);
    },
  };
}
