import type { Cluster, Redis } from 'ioredis';
import type { RunStore } from '../runs/run-store.js';
import type { RunRecord } from '../runs/types.js';

type PipelineRequest = RunRecord['request'];
import type { DeployContext } from './deploy-context.js';
import { LastDeploymentRecord } from './newest-wins.js';

export interface ConfigReleaseDeps {
  redis: Redis | Cluster;
  store: RunStore;
  /** Hands the accepted run to the planner. */
  enqueuePlan: (runId: string) => Promise<void>;
}

/** What the caller asked for and who did. */
export interface ConfigReleaseInput {
  service: string;
  environment: string;
  revision: number;
  actor: string;
}

export type ConfigReleaseStart = { ok: true; runId: string; fromRun: string; sha: string; image: string } | { ok: false; reason: string };

/**
 * The release a config release would redeploy: the environment's last successful deploy and its
 * run's image. `ok: false` (with the reason) when nothing was ever deployed there, or when that
 * run's record is gone (expired after 30 days) or has no image.
 */
export async function liveRelease(
  deps: Pick<ConfigReleaseDeps, 'redis' | 'store'>,
  service: string,
  environment: string,
): Promise<
  | { ok: true; request: PipelineRequest; fromRun: string; releaseCreatedAt: string; image: { repository: string; digest: string; ref: string } }
  | { ok: false; reason: string }
> {
  const last = await new LastDeploymentRecord(deps.redis, deps.store.keys.environment(service, environment)).read();
  if (!last)
    return { ok: false, reason: `nothing was ever deployed to environment ${environment} of service ${service}: deploy it once through a pipeline first` };
  const run = await deps.store.summary(last.runId);
  if (!run)
    return {
      ok: false,
      reason: `the run ${last.runId} that deployed ${environment} of ${service} is no longer recorded (records are kept 30 days): deploy it through a pipeline first`,
    };
  if (!run.image) return { ok: false, reason: `the run ${last.runId} that deployed ${environment} of ${service} recorded no image` };
  const { repository, digest, ref } = run.image;
  return { ok: true, request: run.request, fromRun: last.runId, releaseCreatedAt: last.runCreatedAt, image: { repository, digest, ref } };
}

/**
 * Starts a config release of (service, environment): a new run for the live release's commit,
 * whose plan (made by the planner from the event `config`) holds only that environment's deploy,
 * with the live image. Accepted through the same accept script as any run, keyed by the config
 * revision, so a retried call for one revision makes one run.
 */
export async function startConfigRelease(deps: ConfigReleaseDeps, input: ConfigReleaseInput): Promise<ConfigReleaseStart> {
  const live = await liveRelease(deps, input.service, input.environment);
  if (!live.ok) return live;
  const from = live.request;
  const request: PipelineRequest = {
    kind: 'full',
    event: 'config',
    project: from.project,
    sha: from.sha,
    ref: from.ref,
    before: undefined,
    // Not the merge request's pipeline: its note and approvals stay with the code release.
    mergeRequest: undefined,
    actor: input.actor,
    ...(from.refProtected !== undefined ? { refProtected: from.refProtected } : {}),
    configRelease: {
      service: input.service,
      environment: input.environment,
      revision: input.revision,
      fromRun: live.fromRun,
      releaseCreatedAt: live.releaseCreatedAt,
      image: live.image,
    },
  };
  const key = `config:${input.service}:${input.environment}:${input.revision}`;
  const { runId, created } = await deps.store.accept(request, key, key);
  // A repeated revision whose run no planner picked up yet (a crash in between) is queued again.
  if (created || (await deps.store.summary(runId))?.status.phase === 'received') await deps.enqueuePlan(runId);
  return { ok: true, runId, fromRun: live.fromRun, sha: from.sha, image: live.image.ref };
}

/**
 * A run's place in newest-wins order (`newest-wins.ts`): its own creation, except for a config
 * release, which takes the place of the code run it redeploys (its id still orders it after that
 * run and after earlier config releases). So a code pipeline created before the config change but
 * deployed after it is not superseded: it deploys with the new config too (read at deploy time).
 */
export function releaseOrder(run: Pick<RunRecord, 'id' | 'createdAt' | 'request'>): { runId: string; createdAt: string } {
  return { runId: run.id, createdAt: run.request.configRelease?.releaseCreatedAt ?? run.createdAt };
}

/**
 * The environment's config from the API (latest revision) for a deploy of any kind, so a code
 * release keeps the config a config release set. Logged by revision and key names, never values.
 */
export async function environmentConfigFor(
  ctx: Pick<DeployContext, 'environmentConfig'>,
  service: string,
  environment: string,
  onLog: (line: string) => void,
): Promise<Record<string, string>> {
  if (!ctx.environmentConfig) return {};
  const config = await ctx.environmentConfig.read(service, environment);
  const keys = Object.keys(config.values);
  if (config.revision > 0)
    onLog(`environment config revision ${config.revision} (${keys.length > 0 ? keys.sort().join(', ') : 'no keys'}) over the pipeline file's variables`);
  return config.values;
}
