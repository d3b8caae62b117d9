import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { retrying, serverSideApply, statusOf, type ClusterClient } from './cluster.js';
import type { Manifest } from './render.js';
import { ownedReplicaSets } from './rollout-status.js';
import { POD_TEMPLATE_HASH } from './strategy-objects.js';
import { rolloutPodProblems, waitForRollout } from './wait-rollout.js';

// Changes to live objects a strategy makes between two renders (a Deployment's replicas, a
// Service's selector), and deletes of the objects it derived.

/**
 * The live object as an apply of its own fields with `change` made. Applied whole, never as a
 * partial object: under server-side apply a field Slipway applied before and leaves out would be
 * removed. (A scale through the `scale` subresource would be an Update by another manager, and the
 * next apply of `replicas` would conflict with it.)
 */
function applyable(kind: 'Deployment' | 'Service', live: V1Deployment | V1Service, change: (spec: Record<string, unknown>) => void): Manifest {
  const meta = live.metadata ?? {};
  const spec = JSON.parse(JSON.stringify(live.spec ?? {})) as Record<string, unknown>;
  if (kind === 'Service') {
    // What the API server assigned: owned by this apply, the next apply of the rendered Service
    // (which leaves them out) would ask to unset them, and a cluster IP cannot be unset (422).
    for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'healthCheckNodePort']) delete spec[f];
    if (Array.isArray(spec.ports)) for (const p of spec.ports as Record<string, unknown>[]) delete p.nodePort;
  }
  change(spec);
  return {
    apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1',
    kind,
    metadata: {
      name: meta.name ?? '',
      namespace: meta.namespace ?? '',
      ...(meta.labels ? { labels: meta.labels } : {}),
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
    },
    spec,
  };
}

export async function readService(cluster: ClusterClient, namespace: string, name: string): Promise<V1Service | undefined> {
  try {
    return await retrying(`${cluster.name}: read service ${namespace}/${name}`, () => cluster.core.readNamespacedService({ name, namespace }));
  } catch (e) {
    if (statusOf(e instanceof Error ? e.cause : undefined) === 404) return undefined;
    throw e;
  }
}

/** Sets a live Deployment's replicas (its pod template untouched). */
export async function scaleDeployment(cluster: ClusterClient, live: V1Deployment, replicas: number): Promise<void> {
  await serverSideApply(
    cluster,
    applyable('Deployment', live, (spec) => {
      spec.replicas = replicas;
    }),
  );
}

/** Replaces a live Service's selector (its other fields untouched). */
export async function setSelector(cluster: ClusterClient, live: V1Service, selector: Record<string, string>): Promise<void> {
  await serverSideApply(
    cluster,
    applyable('Service', live, (spec) => {
      spec.selector = selector;
    }),
  );
}

/** Deletes an object; one already gone is fine. */
export async function deleteObject(cluster: ClusterClient, apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean> {
  try {
    await retrying(`${cluster.name}: delete ${kind} ${namespace}/${name}`, () =>
      cluster.objects.delete({ apiVersion, kind, metadata: { name, namespace } }, undefined, undefined, undefined, undefined, 'Background'),
    );
    return true;
  } catch (e) {
    if (statusOf(e instanceof Error ? e.cause : undefined) === 404) return false;
    throw e;
  }
}

/** The pod-template-hash of a Deployment's newest ReplicaSet: pins a Service to the pods it runs now. */
export async function currentPodHash(cluster: ClusterClient, d: V1Deployment): Promise<string | undefined> {
  const namespace = d.metadata?.namespace ?? cluster.namespace;
  const list = await retrying(`${cluster.name}: list replicasets in ${namespace}`, () => cluster.apps.listNamespacedReplicaSet({ namespace }));
  return ownedReplicaSets(d, list.items).at(-1)?.metadata?.labels?.[POD_TEMPLATE_HASH];
}

/**
 * Waits until a Deployment is rolled out by kubectl's rules (all its pods updated and ready), at
 * most `timeoutMs`; throws with the rollout's message and the pods' reasons otherwise.
 */
export async function waitReady(cluster: ClusterClient, namespace: string, name: string, timeoutMs: number, onLog: (line: string) => void): Promise<void> {
  const r = await waitForRollout(cluster, namespace, name, timeoutMs, onLog);
  if (r.state === 'done') return;
  const pods = r.deployment ? await rolloutPodProblems(cluster, r.deployment) : [];
  const why = r.timedOut ? `not ready within ${Math.round(timeoutMs / 1000)} s: ${r.message}` : r.message;
  throw new Error(`${cluster.name}: deployment ${namespace}/${name} ${why}${pods.length > 0 ? ` (${pods.join('; ')})` : ''}`);
}

/** How long to wait for a Deployment to roll out: its progress deadline plus slack, within [30 s, 11 min]. */
export function rolloutWaitMs(d: Manifest | V1Deployment): number {
  const deadline = (d.spec as { progressDeadlineSeconds?: number } | undefined)?.progressDeadlineSeconds ?? 600;
  return Math.min(660_000, Math.max(30_000, deadline * 1000 + 30_000));
}
