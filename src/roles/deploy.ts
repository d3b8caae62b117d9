import { DelayedError, Worker } from 'bullmq';
import type { DeployContext } from '../deploy/deploy-context.js';
import { createDockerTarget } from '../deploy/docker-target.js';
import { NginxFrontProxy } from '../frontproxy/nginx.js';
import { runDeployJob } from '../deploy/run-deploy-job.js';
import { observeQueueWait } from '../metrics/metrics.js';
import { clusterFromKubeconfigFile, type ClusterClient } from '../kubernetes/cluster.js';
import { createKubernetesTarget } from '../kubernetes/kubernetes-target.js';
import { QUEUE_NAMES, type DeployJob } from '../queues/names.js';
import type { RunningRole, Shared } from './shared.js';
import { failCorrupt, watchFailures } from './watch-failures.js';

/** The deploy role: the worker on queue "deploy", with the deploy targets this process can reach. */
export function startDeployRole(shared: Shared): RunningRole {
  const { config, jobs } = shared;
  // One client per cluster, each from its own kubeconfig (a shared KubeConfig leaks one cluster's
  // token to another). A kubeconfig that cannot be read stops the role at start, naming the cluster.
  const clusters = new Map<string, ClusterClient>();
  for (const [name, file] of Object.entries(config.kubernetes.clusters)) {
    try {
      clusters.set(name, clusterFromKubeconfigFile(name, file));
    } catch (e) {
      throw new Error(`SLIPWAY_CLUSTERS: cluster ${name}: cannot load the kubeconfig ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const ctx: DeployContext = {
    ...jobs,
    targets: {
      docker: createDockerTarget(shared.docker, config.frontProxy ? { frontProxy: new NginxFrontProxy(config.frontProxy) } : {}),
      ...(clusters.size > 0 ? { kubernetes: createKubernetesTarget(clusters) } : {}),
    },
  };
  const worker = watchFailures(
    ctx,
    new Worker<DeployJob>(
      QUEUE_NAMES.deploy,
      async (job, token) => {
        observeQueueWait(shared.metrics, QUEUE_NAMES.deploy, job);
        const outcome = await failCorrupt(() => runDeployJob(ctx, job.data.runId, job.data.environment));
        if (!outcome.done) {
          // The environment is busy, or a soak, window or freeze holds it: wait without spending an attempt (BullMQ's DelayedError pattern).
          await job.moveToDelayed(outcome.retryAt, token);
          throw new DelayedError();
        }
      },
      { connection: shared.workerRedis, prefix: config.redisPrefix, concurrency: config.concurrency.deploy },
    ),
  );
  return { stop: () => worker.close() };
}
