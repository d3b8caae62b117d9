import type { AppliedRelease, DeployTarget, ReleaseSpec, RunningRelease, Verdict } from '../deploy/deploy-target.js';
import { retrying, type ClusterClient } from './cluster.js';
import { addressOf, applyToCluster, objectsFor, rollBackCluster, verdictOfCluster, type ClusterApply } from './cluster-release.js';
import { LABELS, type Manifest } from './render.js';
import { replicaPlan } from './replica-plan.js';
import { prepareKubernetesRelease } from './templates.js';
import { rollOutInWaves, type KubernetesRelease } from './waves.js';
import { pruneConfigMaps } from './prune-config-maps.js';
import { DEFAULT_SCALE_DOWN_DELAY_MS, rollOutBlueGreen } from './blue-green.js';
import { kubernetesCanary } from './canary.js';
import { TRACK, withRollingUpdate } from './strategy-objects.js';

export { ROLLBACK_TO, objectsFor } from './cluster-release.js';
export type { KubernetesRelease } from './waves.js';

/**
 * The Kubernetes deploy target: server-side apply (field manager `slipway`, never forced) of a
 * release's rendered objects to each of its clusters, a verdict by kubectl's `rollout status` rules
 * from a watch, and `rollout undo` (the previous ReplicaSet's pod template) when the verdict is bad.
 * The deploy job goes through `rollOut`: the first cluster, then the others once it is healthy
 * (waves.ts), with the environment's `on_cluster_failure` policy; the Deployments' replicas are split
 * across the clusters (replica-plan.ts). `apply`, `waitForVerdict` and `rollBack` act on every
 * cluster at once (a failure anywhere is a bad verdict, and `rollBack` undoes every cluster).
 */
export type KubernetesTarget = DeployTarget & {
  apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<KubernetesRelease>;
  rollOut: NonNullable<DeployTarget['rollOut']>;
  canary: NonNullable<DeployTarget['canary']>;
};

export function createKubernetesTarget(clusters: ReadonlyMap<string, ClusterClient>): KubernetesTarget {
  function clustersOf(names: readonly string[]): ClusterClient[] {
    if (names.length === 0) {
      if (clusters.size === 1) return [...clusters.values()];
      throw new Error(
        clusters.size === 0
          ? 'no Kubernetes cluster is configured (SLIPWAY_CLUSTERS)'
          : `the environment names no clusters and ${clusters.size} are configured (${[...clusters.keys()].join(', ')}): list them under clusters:`,
      );
    }
    return names.map((n) => {
      const c = clusters.get(n);
      if (!c) throw new Error(`cluster '${n}' is not configured (SLIPWAY_CLUSTERS has ${[...clusters.keys()].join(', ') || 'none'})`);
      return c;
    });
  }

  function manifestsOf(spec: ReleaseSpec): readonly Manifest[] {
    if (!spec.kubernetes) throw new Error(`release of ${spec.service} to ${spec.environment} has no rendered manifests`);
    return spec.kubernetes.manifests;
  }

  function releaseClusters(release: AppliedRelease): ClusterClient[] {
    return clustersOf((release as Partial<KubernetesRelease>).clusters ?? release.spec.kubernetes?.clusters ?? []);
  }

  const target: KubernetesTarget = {
    kind: 'kubernetes',

    async prepare(request) {
      const prepared = await prepareKubernetesRelease(request);
      if (!prepared.ok || !prepared.spec.kubernetes) return prepared;
      // The strategy, after rendering, for built-in and repository templates alike.
      const { strategy } = request;
      const k = prepared.spec.kubernetes;
      return {
        ...prepared,
        spec: {
          ...prepared.spec,
          kubernetes: {
            ...k,
            manifests: withRollingUpdate(k.manifests, strategy),
            ...(strategy?.type === 'blue-green' ? { blueGreen: { scaleDownDelayMs: strategy.scaleDownDelayMs ?? DEFAULT_SCALE_DOWN_DELAY_MS } } : {}),
            ...(request.trafficRouter ? { trafficRouter: request.trafficRouter } : {}),
          },
        },
      };
    },

    async rollOut(spec, opts) {
      const manifests = manifestsOf(spec);
      const targets = clustersOf(spec.kubernetes?.clusters ?? []);
      const split = await replicaPlan(targets, manifests, spec.kubernetes?.weights, opts.onLog);
      const blueGreen = spec.kubernetes?.blueGreen;
      if (blueGreen) return rollOutBlueGreen(targets, spec, manifests, split, blueGreen.scaleDownDelayMs, opts);
      const report = await rollOutInWaves(targets, spec, manifests, split, spec.kubernetes?.onClusterFailure ?? 'rollback-all', opts);
      // The release is live everywhere: config no kept ReplicaSet needs any more can go.
      if (report.outcome === 'healthy') for (const cluster of targets) await pruneConfigMaps(cluster, spec, objectsFor(cluster, manifests), opts.onLog);
      return report;
    },

    async apply(spec, onLog) {
      const manifests = manifestsOf(spec);
      const targets = clustersOf(spec.kubernetes?.clusters ?? []);
      const split = await replicaPlan(targets, manifests, spec.kubernetes?.weights, onLog);
      const applied: ClusterApply[] = [];
      for (const cluster of targets) applied.push(await applyToCluster(cluster, spec.runId, manifests, split, onLog));
      const first = targets[0];
      const replaces = applied.map((a) => a.replaces).find((r) => r !== undefined);
      return {
        spec,
        url: first ? addressOf(first, objectsFor(first, manifests)) : '',
        id: targets.map((c) => c.name).join(','),
        clusters: targets.map((c) => c.name),
        alreadyLive: applied.every((a) => a.alreadyLive),
        ...(replaces ? { replaces } : {}),
      };
    },

    async waitForVerdict(release, opts): Promise<Verdict> {
      const deadline = Date.now() + opts.timeoutMs;
      const manifests = manifestsOf(release.spec);
      const results = await Promise.all(releaseClusters(release).map((cluster) => verdictOfCluster(cluster, manifests, deadline, opts.onLog)));
      const failures = results.flatMap((r) => r.failures);
      if (failures.length === 0) {
        // The release is live everywhere: config no kept ReplicaSet needs any more can go.
        for (const cluster of releaseClusters(release))
          await pruneConfigMaps(cluster, release.spec, objectsFor(cluster, manifestsOf(release.spec)), opts.onLog);
        return { healthy: true };
      }
      const details = results.flatMap((r) => r.details);
      return { healthy: false, reason: [...failures, ...details].join('; '), lastLogs: details };
    },

    async rollBack(release, onLog) {
      if (release.alreadyLive) return;
      const manifests = manifestsOf(release.spec);
      for (const cluster of releaseClusters(release)) await rollBackCluster(cluster, manifests, onLog);
    },

    async describe(service, environment): Promise<RunningRelease | null> {
      const selector = `${LABELS.service}=${service},${LABELS.environment}=${environment}`;
      for (const cluster of clusters.values()) {
        const list = await retrying(`${cluster.name}: list deployments`, () =>
          cluster.apps.listNamespacedDeployment({ namespace: cluster.namespace, labelSelector: selector }),
        );
        // The serving Deployment: not a canary, and (blue-green) the side with pods.
        const candidates = list.items.filter((x) => x.metadata?.labels?.[TRACK] !== 'canary');
        const d = candidates.find((x) => (x.spec?.replicas ?? 1) > 0) ?? candidates[0];
        if (!d) continue;
        const annotations = d.spec?.template?.metadata?.annotations ?? {};
        const image = d.spec?.template?.spec?.containers?.[0]?.image ?? '';
        const digest = /@(sha256:[0-9a-f]{64})$/.exec(image)?.[1];
        return {
          runId: annotations[LABELS.run] ?? '',
          image,
          ...(digest ? { digest } : {}),
          url: `kubernetes://${cluster.name}/${d.metadata?.namespace ?? cluster.namespace}/deployments/${d.metadata?.name ?? ''}`,
        };
      }
      return null;
    },
    canary: kubernetesCanary({ clustersOf, rollOut: (spec, opts) => target.rollOut(spec, opts) }),
  };
  return target;
}
