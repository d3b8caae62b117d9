import { DelayedError, Worker } from 'bullmq';
import type { DeployContext } from '../deploy/deploy-context.js';
import { createDockerTarget } from '../deploy/docker-target.js';
import { NginxFrontProxy } from '../frontproxy/nginx.js';
import { runDeployJob } from '../deploy/run-deploy-job.js';
import { observeQueueWait } from '../metrics/metrics.js';
import type { ClusterClient } from '../kubernetes/cluster.js';
import { QUEUE_NAMES, type DeployJob, type RollbackJob } from '../queues/names.js';
import { createReleaseLedger } from '../releases/ledger.js';
import { ReleaseHistories } from '../releases/release-history.js';
import { runRollbackJob } from '../releases/run-rollback-job.js';
import type { RunningRole, Shared } from './shared.js';
import { failCorrupt, watchFailures } from './watch-failures.js';

const DEPLOY_LOCK_RETRY_MS = 3_000;

/**
 * The deploy role: the worker on queue "deploy", with the deploy targets this process can reach.
 * The Kubernetes target (and its client library, the largest module Slipway loads) is imported only
 * when clusters are configured.
 */
export async function startDeployRole(shared: Shared): Promise<RunningRole> {
  const { config, jobs } = shared;
  const kubernetes = Object.keys(config.kubernetes.clusters).length > 0 ? await loadKubernetes() : undefined;
  // One client per cluster, each from its own kubeconfig (a shared KubeConfig leaks one cluster's
  // token to another). A kubeconfig that cannot be read stops the role at start, naming the cluster.
  const clusters = new Map<string, ClusterClient>();
  for (const [name, file] of Object.entries(config.kubernetes.clusters)) {
    try {
      if (kubernetes) clusters.set(name, kubernetes.clusterFromKubeconfigFile(name, file));
    } catch (e) {
      throw new Error(`SLIPWAY_CLUSTERS: cluster ${name}: cannot load the kubeconfig ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const histories = new ReleaseHistories(shared.workerRedis, shared.variablesKey, config.redisPrefix);
  const ctx: DeployContext = {
    ...jobs,
    releases: createReleaseLedger(histories),
    targets: {
      docker: createDockerTarget(shared.docker, config.frontProxy ? { frontProxy: new NginxFrontProxy(config.frontProxy) } : {}),
      ...(kubernetes && clusters.size > 0 ? { kubernetes: kubernetes.createKubernetesTarget(clusters) } : {}),
    },
  };
  const worker = watchFailures(
    ctx,
    new Worker<DeployJob | RollbackJob>(
      QUEUE_NAMES.deploy,
      async (job, token) => {
        observeQueueWait(shared.metrics, QUEUE_NAMES.deploy, job);
        const waitUntil = async (at: number) => {
          // The environment is busy or paused, or a soak, window or freeze holds it: wait without
          // spending an attempt (BullMQ's DelayedError pattern).
          await job.moveToDelayed(at, token);
          throw new DelayedError();
        };
        const { data } = job;
        if ('release' in data) {
          const outcome = await runRollbackJob(ctx, histories, data).catch(async (err: unknown) => {
            // Recorded in its entry instead of retried: asking again is the person's call.
            await histories
              .of(data.service, data.environment)
              .update(data.release, { outcome: 'failed', detail: `rollback failed: ${err instanceof Error ? err.message : String(err)}` });
            await histories.of(data.service, data.environment).endRollback(String(data.release));
            return { done: true } as const;
          });
          if (!outcome.done) await waitUntil(Date.now() + DEPLOY_LOCK_RETRY_MS);
          return;
        }
        const outcome = await failCorrupt(() => runDeployJob(ctx, data.runId, data.environment, { queuedAt: job.timestamp }));
        if (!outcome.done) await waitUntil(outcome.retryAt);
      },
      { connection: shared.workerRedis, prefix: config.redisPrefix, concurrency: config.concurrency.deploy },
    ),
  );
  return { stop: () => worker.close() };
}

async function loadKubernetes() {
  const [{ clusterFromKubeconfigFile }, { createKubernetesTarget }] = await Promise.all([
    import('../kubernetes/cluster.js'),
    import('../kubernetes/kubernetes-target.js'),
  ]);
  return { clusterFromKubeconfigFile, createKubernetesTarget };
}
