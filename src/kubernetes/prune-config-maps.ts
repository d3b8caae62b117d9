import type { V1Deployment, V1PodSpec, V1ReplicaSet } from '@kubernetes/client-node';
import type { ReleaseSpec } from '../deploy/deploy-target.js';
import { describeError, retrying, type ClusterClient } from './cluster.js';
import { LABELS, type Manifest } from './render.js';
import { ownedReplicaSets } from './rollout-status.js';

/** Kubernetes' default revisionHistoryLimit. */
const DEFAULT_HISTORY_LIMIT = 10;

/** The hash-named ConfigMaps of a service (templates.ts `configMapName`): `<service>-config-<hash>`. */
export const configMapPrefix = (service: string) => `${service}-config-`;

/** Pure: every ConfigMap a pod spec reads (envFrom, env valueFrom, volumes, projected volumes). */
export function configMapsOf(spec: V1PodSpec | undefined): string[] {
  if (!spec) return [];
  const names: string[] = [];
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    for (const f of c.envFrom ?? []) if (f.configMapRef?.name) names.push(f.configMapRef.name);
    for (const e of c.env ?? []) if (e.valueFrom?.configMapKeyRef?.name) names.push(e.valueFrom.configMapKeyRef.name);
  }
  for (const v of spec.volumes ?? []) {
    if (v.configMap?.name) names.push(v.configMap.name);
    for (const s of v.projected?.sources ?? []) if (s.configMap?.name) names.push(s.configMap.name);
  }
  return names;
}

/**
 * Pure: the ReplicaSets the Deployment controller keeps, as its cleanup decides: every one that
 * still has pods or is wanted, and of the old ones scaled to zero the newest `revisionHistoryLimit`
 * (what `kubectl rollout undo` can go back to). ReplicaSets beyond that the controller deletes.
 * Also every ReplicaSet no Deployment owns.
 */
export function keptReplicaSets(deployments: readonly V1Deployment[], all: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  const kept = new Set<V1ReplicaSet>(all);
  for (const d of deployments) {
    const owned = ownedReplicaSets(d, all);
    const current = owned.at(-1);
    const cleanable = owned.filter(
      (rs) => rs !== current && (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata?.deletionTimestamp,
    );
    const limit = d.spec?.revisionHistoryLimit ?? DEFAULT_HISTORY_LIMIT;
    for (const rs of cleanable.slice(0, Math.max(0, cleanable.length - limit))) kept.delete(rs);
  }
  return [...kept];
}

/**
 * Pure: which of Slipway's ConfigMaps can go: those not referenced by anything that may still run
 * or be rolled back to (`referenced`) and not part of the release just made live (`keep`).
 */
export function configMapsToPrune(candidates: readonly string[], referenced: ReadonlySet<string>, keep: ReadonlySet<string>): string[] {
  return candidates.filter((n) => !referenced.has(n) && !keep.has(n)).sort();
}

/**
 * After a healthy verdict: deletes the service's old hash-named ConfigMaps in each namespace the
 * release put one into, when no ReplicaSet the Deployment controller keeps (`keptReplicaSets`: its
 * revisionHistoryLimit), no other workload and no pod references them; so a rollback finds its
 * config and they do not pile up. Only Slipway's own: selected by the labels Slipway stamps
 * (service, environment, managed-by slipway) and named `<service>-config-*`. Never throws: a
 * failure is logged and the release stays healthy (the next deploy prunes again).
 */
export async function pruneConfigMaps(cluster: ClusterClient, spec: ReleaseSpec, objects: readonly Manifest[], onLog: (line: string) => void): Promise<void> {
  const prefix = configMapPrefix(spec.service);
  const ours = objects.filter((o) => o.apiVersion === 'v1' && o.kind === 'ConfigMap' && o.metadata.name.startsWith(prefix));
  const namespaces = [...new Set(ours.map((o) => o.metadata.namespace ?? cluster.namespace))];
  const keep = new Set(ours.map((o) => o.metadata.name));
  for (const namespace of namespaces) {
    try {
      const labelSelector = `${LABELS.service}=${spec.service},${LABELS.environment}=${spec.environment},${LABELS.managedBy}=slipway`;
      const [maps, rs, deployments, statefulSets, daemonSets, pods] = await Promise.all([
        retrying(`${cluster.name}: list configmaps in ${namespace}`, () => cluster.core.listNamespacedConfigMap({ namespace, labelSelector })),
        retrying(`${cluster.name}: list replicasets in ${namespace}`, () => cluster.apps.listNamespacedReplicaSet({ namespace })),
        retrying(`${cluster.name}: list deployments in ${namespace}`, () => cluster.apps.listNamespacedDeployment({ namespace })),
        retrying(`${cluster.name}: list statefulsets in ${namespace}`, () => cluster.apps.listNamespacedStatefulSet({ namespace })),
        retrying(`${cluster.name}: list daemonsets in ${namespace}`, () => cluster.apps.listNamespacedDaemonSet({ namespace })),
        retrying(`${cluster.name}: list pods in ${namespace}`, () => cluster.core.listNamespacedPod({ namespace })),
      ]);
      const referenced = new Set([
        ...[...keptReplicaSets(deployments.items, rs.items), ...deployments.items, ...statefulSets.items, ...daemonSets.items].flatMap((w) =>
          configMapsOf(w.spec?.template?.spec),
        ),
        // A pod being deleted already read its environment and goes away: it keeps nothing.
        ...pods.items.filter((p) => !p.metadata?.deletionTimestamp).flatMap((p) => configMapsOf(p.spec)),
      ]);
      const candidates = maps.items.map((m) => m.metadata?.name ?? '').filter((n) => n.startsWith(prefix));
      for (const name of configMapsToPrune(candidates, referenced, keep)) {
        await retrying(`${cluster.name}: delete configmap ${namespace}/${name}`, () => cluster.core.deleteNamespacedConfigMap({ name, namespace })).catch(
          (e: unknown) => {
            // Gone already (another prune): what was wanted.
            if (!/: 404 /.test(e instanceof Error ? e.message : '')) throw e;
          },
        );
        onLog(`${cluster.name}: deleted ConfigMap ${namespace}/${name}: no ReplicaSet kept for rollback references it`);
      }
    } catch (e) {
      onLog(
        `${cluster.name}: old ConfigMaps in ${namespace} not pruned (${describeError(e instanceof Error && e.cause ? e.cause : e)}); the next deploy tries again`,
      );
    }
  }
}
