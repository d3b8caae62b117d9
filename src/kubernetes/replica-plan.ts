import { describeError, retrying, type ClusterClient } from './cluster.js';
import { isDeployment, templateReplicas, type ReplicaPlan } from './cluster-release.js';
import type { Manifest } from './render.js';
import { freeCpuMillis, splitReplicas } from './replica-split.js';

/** A cluster's free CPU (millicores) from its nodes and pods lists; rejects when they cannot be read. */
async function freeCpu(cluster: ClusterClient): Promise<number> {
  const [nodes, pods] = await Promise.all([
    retrying(`${cluster.name}: list nodes`, () => cluster.core.listNode()),
    retrying(`${cluster.name}: list pods`, () => cluster.core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' })),
  ]);
  return freeCpuMillis(nodes.items, pods.items);
}

/**
 * How a release's replicas are split across `clusters`: by the environment's weights when it gives
 * them, else by each cluster's free CPU now (allocatable minus requested, this service's current pods
 * included). When a cluster's capacity cannot be read (no permission to list nodes, no answer), all
 * clusters get even weights and the log says why: the split is a placement hint, and whether the
 * cluster is reachable is the apply's to find out. Undefined for one cluster, or when no Deployment
 * sets `spec.replicas` (HPA-scaled ones are rendered without it). Logs each Deployment's split.
 */
export async function replicaPlan(
  clusters: readonly ClusterClient[],
  manifests: readonly Manifest[],
  weights: Readonly<Record<string, number>> | undefined,
  onLog: (line: string) => void,
): Promise<ReplicaPlan | undefined> {
  if (clusters.length < 2) return undefined;
  const deployments = manifests.filter(isDeployment);
  for (const d of deployments.filter((m) => templateReplicas(m) === undefined)) {
    onLog(`deployment ${d.metadata.name} sets no replicas (an HPA of the release scales it): each cluster keeps its own count, nothing is split`);
  }
  const split = deployments.filter((m) => templateReplicas(m) !== undefined);
  if (split.length === 0) return undefined;
  let plan: ReplicaPlan;
  if (weights) {
    plan = { weights: clusters.map((c) => ({ name: c.name, weight: weights[c.name] ?? 1 })), basis: 'weights' };
  } else {
    onLog(`reading the free CPU of ${clusters.map((c) => c.name).join(', ')} to split the replicas`);
    const free = await Promise.all(
      clusters.map((c) =>
        freeCpu(c).then(
          (m) => ({ m }),
          (e: unknown) => ({ e }),
        ),
      ),
    );
    const unknown = free.flatMap((f) => {
      return f && 'e' in f ? [describeError(f.e)] : [];
    });
    plan =
      unknown.length > 0
        ? { weights: clusters.map((c) => ({ name: c.name, weight: 1 })), basis: `evenly (free CPU unknown: ${unknown.join('; ')})` }
        : {
            weights: clusters.map((c, i) => ({ name: c.name, weight: (free[i] as { m: number }).m })),
            basis: `free CPU (${clusters.map((c, i) => `${c.name} ${(free[i] as { m: number }).m}m`).join(', ')})`,
          };
  }
  for (const d of split) {
    const total = templateReplicas(d) ?? 0;
    const shares = splitReplicas(total, plan.weights);
    onLog(
      `deployment ${d.metadata.name}: ${total} replicas split by ${plan.basis === 'weights' ? `weights ${plan.weights.map((w) => `${w.name}=${w.weight}`).join(', ')}` : plan.basis}: ${[...shares].map(([c, n]) => `${c} ${n}`).join(', ')}`,
    );
  }
  return plan;
}
