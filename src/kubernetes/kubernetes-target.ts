import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import type { AppliedRelease, DeployTarget, ReleaseSpec, RunningRelease, Verdict } from '../deploy/deploy-target.js';
import { retrying, serverSideApply, statusOf, type ClusterClient } from './cluster.js';
import { LABELS, type Manifest } from './render.js';
import { ownedReplicaSets, rolloutVerdict } from './rollout-status.js';
import { prepareKubernetesRelease } from './templates.js';
import { pruneConfigMaps } from './prune-config-maps.js';
import { rolloutPodProblems, waitForRollout } from './wait-rollout.js';

/**
 * On each Deployment Slipway applies: the ReplicaSet that ran before this release, i.e. what a failed
 * rollout goes back to. Kept on the Deployment itself, so a rollback after a crash of the deploy
 * worker still knows it.
 */
export const ROLLBACK_TO = 'slipway.dev/rollback-to';
const POD_TEMPLATE_HASH = 'pod-template-hash';
/** What objects are applied before which: what pods need first, the workloads, then what points at them. */
const APPLY_ORDER = [
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'PersistentVolumeClaim',
  'Service',
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'Ingress',
  'NetworkPolicy',
];
/** A rollback waits this long at least, else the Deployment's progress deadline plus slack. */
const MIN_ROLLBACK_WAIT_MS = 60_000;

export interface KubernetesRelease extends AppliedRelease {
  /** The clusters it was applied to, by name, in order. */
  clusters: string[];
}

function order(kind: string): number {
  const i = APPLY_ORDER.indexOf(kind);
  return i < 0 ? APPLY_ORDER.length : i;
}

/** The objects for one cluster: copies, with the cluster's namespace where the template set none, in apply order. */
export function objectsFor(cluster: ClusterClient, manifests: readonly Manifest[]): Manifest[] {
  return manifests
    .map((m) => {
      const copy = structuredClone(m);
      copy.metadata.namespace ??= cluster.namespace;
      return copy;
    })
    .sort((a, b) => order(a.kind) - order(b.kind));
}

const isDeployment = (m: Manifest) => m.apiVersion === 'apps/v1' && m.kind === 'Deployment';

async function readDeployment(cluster: ClusterClient, namespace: string, name: string): Promise<V1Deployment | undefined> {
  try {
    return await retrying(`${cluster.name}: read deployment ${namespace}/${name}`, () => cluster.apps.readNamespacedDeployment({ name, namespace }));
  } catch (e) {
    if (statusOf(e instanceof Error ? e.cause : undefined) === 404) return undefined;
    throw e;
  }
}

async function replicaSetsOf(cluster: ClusterClient, d: V1Deployment): Promise<V1ReplicaSet[]> {
  const namespace = d.metadata?.namespace ?? cluster.namespace;
  const list = await retrying(`${cluster.name}: list replicasets in ${namespace}`, () => cluster.apps.listNamespacedReplicaSet({ namespace }));
  return ownedReplicaSets(d, list.items);
}

/** Where a release answers: its Ingress host, else its Service's cluster address, else the Deployment. */
function addressOf(cluster: ClusterClient, objects: readonly Manifest[]): string {
  const ingress = objects.find((o) => o.kind === 'Ingress');
  const rules = (ingress?.spec as { rules?: { host?: string }[] } | undefined)?.rules;
  const host = rules?.find((r) => r.host)?.host;
  if (host) return `http://${host}/`;
  const svc = objects.find((o) => o.kind === 'Service');
  if (svc) {
    const port = (svc.spec as { ports?: { port?: number }[] } | undefined)?.ports?.[0]?.port;
    return `http://${svc.metadata.name}.${svc.metadata.namespace ?? cluster.namespace}.svc${port && port !== 80 ? `:${port}` : ''}/`;
  }
  const d = objects.find(isDeployment);
  return `kubernetes://${cluster.name}/${d?.metadata.namespace ?? cluster.namespace}/${d ? `deployments/${d.metadata.name}` : ''}`;
}

/**
 * The Kubernetes deploy target: server-side apply (field manager `slipway`, never forced) of a
 * release's rendered objects to each of its clusters, a verdict by kubectl's `rollout status` rules
 * from a watch, and `rollout undo` (the previous ReplicaSet's pod template) when the verdict is bad.
 * All clusters get the release; a failure on any of them rolls every cluster back.
 */
export function createKubernetesTarget(clusters: ReadonlyMap<string, ClusterClient>): DeployTarget & {
  apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<KubernetesRelease>;
} {
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

  return {
    kind: 'kubernetes',

    prepare: prepareKubernetesRelease,

    async apply(spec, onLog) {
      const manifests = manifestsOf(spec);
      const targets = clustersOf(spec.kubernetes?.clusters ?? []);
      let alreadyLive = manifests.some(isDeployment);
      let replaces: string | undefined;
      for (const cluster of targets) {
        const objects = objectsFor(cluster, manifests);
        for (const obj of objects.filter(isDeployment)) {
          const ns = obj.metadata.namespace ?? cluster.namespace;
          const live = await readDeployment(cluster, ns, obj.metadata.name);
          const liveRun = live?.spec?.template?.metadata?.annotations?.[LABELS.run];
          if (live && liveRun === spec.runId) {
            // A second apply of this run (a retry): keep what the first one recorded to go back to.
            const kept = live.metadata?.annotations?.[ROLLBACK_TO];
            if (kept) obj.metadata.annotations = { ...obj.metadata.annotations, [ROLLBACK_TO]: kept };
            if (rolloutVerdict(live).state !== 'done') alreadyLive = false;
            continue;
          }
          alreadyLive = false;
          if (!live) continue;
          replaces ??= liveRun;
          const current = (await replicaSetsOf(cluster, live)).at(-1)?.metadata?.name;
          if (current) obj.metadata.annotations = { ...obj.metadata.annotations, [ROLLBACK_TO]: current };
        }
        for (const obj of objects) {
          await serverSideApply(cluster, obj);
          onLog(`${cluster.name}: applied ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`);
        }
      }
      const first = targets[0];
      return {
        spec,
        url: first ? addressOf(first, objectsFor(first, manifests)) : '',
        id: targets.map((c) => c.name).join(','),
        clusters: targets.map((c) => c.name),
        alreadyLive,
        ...(replaces ? { replaces } : {}),
      };
    },

    async waitForVerdict(release, opts): Promise<Verdict> {
      const deadline = Date.now() + opts.timeoutMs;
      const results = await Promise.all(
        releaseClusters(release).map(async (cluster) => {
          const failures: string[] = [];
          const details: string[] = [];
          for (const obj of objectsFor(cluster, manifestsOf(release.spec)).filter(isDeployment)) {
            const ns = obj.metadata.namespace ?? cluster.namespace;
            const waitMs = Math.max(0, deadline - Date.now());
            opts.onLog(
              `${cluster.name}: waiting up to ${Math.ceil(waitMs / 1000)} s for deployment ${ns}/${obj.metadata.name} to roll out (kubectl rollout status rules)`,
            );
            const r = await waitForRollout(cluster, ns, obj.metadata.name, waitMs, opts.onLog);
            if (r.state === 'done') {
              opts.onLog(`${cluster.name}: ${r.message}`);
              continue;
            }
            failures.push(
              r.timedOut ? `${cluster.name}: timed out after ${Math.round(opts.timeoutMs / 1000)} s: ${r.message}` : `${cluster.name}: ${r.message}`,
            );
            if (r.deployment) details.push(...(await rolloutPodProblems(cluster, r.deployment)).map((l) => `${cluster.name}: ${l}`));
          }
          return { failures, details };
        }),
      );
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
      for (const cluster of releaseClusters(release)) {
        const rolledBack: Manifest[] = [];
        for (const obj of objectsFor(cluster, manifestsOf(release.spec)).filter(isDeployment)) {
          const ns = obj.metadata.namespace ?? cluster.namespace;
          const live = await readDeployment(cluster, ns, obj.metadata.name);
          const target = live?.metadata?.annotations?.[ROLLBACK_TO];
          if (!live || !target) {
            onLog(`${cluster.name}: deployment ${ns}/${obj.metadata.name} has no earlier revision to go back to: left as it is`);
            continue;
          }
          const rs = (await replicaSetsOf(cluster, live)).find((r) => r.metadata?.name === target);
          if (!rs?.spec?.template) {
            onLog(`${cluster.name}: ReplicaSet ${ns}/${target} of the previous release is gone: deployment ${obj.metadata.name} left as it is`);
            continue;
          }
          // kubectl rollout undo: the previous ReplicaSet's pod template, without the hash label the controller adds.
          const template = structuredClone(rs.spec.template);
          if (template.metadata?.labels) delete template.metadata.labels[POD_TEMPLATE_HASH];
          const previous = template.metadata?.annotations ?? {};
          const undo = structuredClone(obj);
          undo.spec = { ...(undo.spec as Record<string, unknown>), template };
          // The Deployment says which release runs: the one it went back to.
          const carried = [LABELS.run, LABELS.commit, LABELS.runUrl].filter((k) => previous[k] !== undefined);
          undo.metadata.annotations = {
            ...undo.metadata.annotations,
            ...Object.fromEntries(carried.map((k) => [k, previous[k] ?? ''])),
            [ROLLBACK_TO]: target,
          };
          await serverSideApply(cluster, undo);
          onLog(
            `${cluster.name}: rolling deployment ${ns}/${obj.metadata.name} back to ReplicaSet ${target}${previous[LABELS.run] ? ` (run ${previous[LABELS.run]})` : ''}`,
          );
          rolledBack.push(undo);
        }
        for (const obj of rolledBack) {
          const ns = obj.metadata.namespace ?? cluster.namespace;
          const deadlineSeconds = (obj.spec as { progressDeadlineSeconds?: number } | undefined)?.progressDeadlineSeconds ?? 600;
          const waitMs = Math.max(MIN_ROLLBACK_WAIT_MS, deadlineSeconds * 1000 + 30_000);
          onLog(`${cluster.name}: waiting up to ${Math.round(waitMs / 1000)} s for the rolled-back deployment ${ns}/${obj.metadata.name}`);
          const r = await waitForRollout(cluster, ns, obj.metadata.name, waitMs, onLog);
          if (r.state !== 'done') throw new Error(`${cluster.name}: the rollback of deployment ${ns}/${obj.metadata.name} did not become ready: ${r.message}`);
          onLog(`${cluster.name}: rolled back: ${r.message}`);
        }
      }
    },

    async describe(service, environment): Promise<RunningRelease | null> {
      const selector = `${LABELS.service}=${service},${LABELS.environment}=${environment}`;
      for (const cluster of clusters.values()) {
        const list = await retrying(`${cluster.name}: list deployments`, () =>
          cluster.apps.listNamespacedDeployment({ namespace: cluster.namespace, labelSelector: selector }),
        );
        const d = list.items[0];
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
  };
}
