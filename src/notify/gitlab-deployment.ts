import type { DeploymentState, GitlabClient } from '../gitlab/client.js';
import type { Logger } from '../logging/logger.js';
import type { RunStore } from '../runs/run-store.js';
import type { JobPhase, JobRecord, RunSummary } from '../runs/types.js';

// A deploy job's phase as a GitLab deployment status. Pending, queued and manual deploys have
// not touched the environment: GitLab hears of them only once they run.
const STATE_OF: Partial<Record<JobPhase, DeploymentState>> = { running: 'running', success: 'success', failed: 'failed', canceled: 'canceled' };

/**
 * Mirrors a deploy job into GitLab's Environments page (and so GitLab's DORA metrics): the
 * deployment is created, status running, when the job starts, and moved to success, failed or
 * canceled when it ends; its id is kept on the job record, so a redelivered change updates the same
 * deployment instead of creating another. A job that ends without ever running (superseded while
 * queued, skipped) deployed nothing and is not shown. Never throws: GitLab being down must not fail
 * a deploy, so a failure is logged and written to the job's log.
 */
export async function mirrorDeployment(
  deps: { gitlab: GitlabClient; store: RunStore; logger: Logger },
  run: Pick<RunSummary, 'id' | 'request'>,
  job: JobRecord,
): Promise<void> {
  if (job.kind !== 'deploy') return;
  const wanted = STATE_OF[job.status.phase];
  if (!wanted) return;
  const known = job.gitlabDeployment;
  if (known?.status === wanted) return;
  const environment = job.name.replace(/^deploy:/, '');
  const projectId = run.request.project.id;
  try {
    if (known) {
      await deps.gitlab.setDeploymentStatus(projectId, known.id, wanted);
      await deps.store.setGitlabDeployment(run.id, job.name, { id: known.id, status: wanted });
      return;
    }
    // Ended without a recorded deployment: only a job that started (the create at its start failed) is shown.
    if (wanted !== 'running' && job.startedAt === undefined) return;
    const { deploymentId } = await deps.gitlab.createDeployment(projectId, {
      environment,
      sha: run.request.sha,
      ref: run.request.ref,
      tag: run.request.event === 'tag',
      status: wanted,
    });
    await deps.store.setGitlabDeployment(run.id, job.name, { id: deploymentId, status: wanted });
  } catch (err) {
    deps.logger.warn({ err, run: run.id, job: job.name, environment }, 'could not record the deployment in GitLab');
    await deps.store
      .appendLog(
        run.id,
        job.name,
        'system',
        `GitLab's environment ${environment} was not updated (${wanted}): ${err instanceof Error ? err.message : String(err)}; the deploy itself is unaffected`,
      )
      .catch(() => undefined);
  }
}
