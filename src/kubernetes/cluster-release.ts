import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import { retrying, serverSideApply, statusOf, type ClusterClient } from './cluster.js';
import { LABELS, type Manifest } from './render.js';
import { splitReplicas, type ClusterWeight } from './replica-split.js';
import { ownedReplicaSets, rolloutVerdict } from './rollout-status.js';
import { rolloutPodProblems, waitForRollout } from './wait-rollout.js';

// One release on one cluster: apply, verdict, undo. The Kubernetes target runs these per cluster,
// all at once (`apply`/`waitForVerdict`/`rollBack`) or in waves (`rollOut`, waves.ts).

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

/** How a release's Deployment replicas are split across its clusters (absent: one cluster, nothing split). */
export interface ReplicaPlan {
  readonly weights: readonly ClusterWeight[];
  /** How the weights were found, for the log: `weights`, `free CPU` or `evenly (why)`. */
  readonly basis: string;
}

function order(kind: string): number {
  const i = APPLY_ORDER.indexOf(kind);
  return i < 0 ? APPLY_ORDER.length : i;
}

export const isDeployment = (m: Manifest) => m.apiVersion === 'apps/v1' && m.kind === 'Deployment';

/** A Deployment's `spec.replicas` when the template sets it (absent: an HPA of the release scales it, or Kubernetes' default 1). */
export function templateReplicas(m: Manifest): number | undefined {
  const r = (m.spec as { replicas?: unknown } | undefined)?.replicas;
  return typeof r === 'number' ? r : undefined;
}

/**
 * The objects for one cluster: copies, with the cluster's namespace where the template set none, in
 * apply order; each Deployment with `spec.replicas` gets this cluster's share of it under `split`.
 */
export function objectsFor(cluster: ClusterClient, manifests: readonly Manifest[], split?: ReplicaPlan): Manifest[] {
  return manifests
    .map((m) => {
      const copy = structuredClone(m);
      copy.metadata.namespace ??= cluster.namespace;
      const total = isDeployment(copy) ? templateReplicas(copy) : undefined;
      if (split && total !== undefined) {
        copy.spec = { ...(copy.spec as Record<string, unknown>), replicas: splitReplicas(total, split.weights).get(cluster.name) ?? total };
      }
      return copy;
    })
    .sort((a, b) => order(a.kind) - order(b.kind));
}

export async function readDeployment(cluster: ClusterClient, namespace: string, name: string): Promise<V1Deployment | undefined> {
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
export function addressOf(cluster: ClusterClient, objects: readonly Manifest[]): string {
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

/** What one cluster's apply did. `touched` turns true with the first object applied, also when a later one fails. */
export interface ClusterApply {
  touched: boolean;
  /** This run already ran here, rolled out: nothing new was started. */
  alreadyLive: boolean;
  /** The run whose release this one replaces here. */
  replaces?: string;
}

/**
 * Server-side applies the release's objects to one cluster, recording on each Deployment the
 * ReplicaSet to go back to. A second apply of the same run keeps what the first recorded.
 * `state.touched` says whether anything reached the cluster, also when this throws.
 */
export async function applyToCluster(
  cluster: ClusterClient,
  runId: string,
  manifests: readonly Manifest[],
  split: ReplicaPlan | undefined,
  onLog: (line: string) => void,
  state: ClusterApply = { touched: false, alreadyLive: false },
): Promise<ClusterApply> {
  const objects = objectsFor(cluster, manifests, split);
  let alreadyLive = objects.some(isDeployment);
  for (const obj of objects.filter(isDeployment)) {
    const ns = obj.metadata.namespace ?? cluster.namespace;
    const live = await readDeployment(cluster, ns, obj.metadata.name);
    const liveRun = live?.spec?.template?.metadata?.annotations?.[LABELS.run];
    if (live && liveRun === runId) {
      // A second apply of this run (a retry): keep what the first one recorded to go back to.
      const kept = live.metadata?.annotations?.[ROLLBACK_TO];
      if (kept) obj.metadata.annotations = { ...obj.metadata.annotations, [ROLLBACK_TO]: kept };
      if (rolloutVerdict(live).state !== 'done') alreadyLive = false;
      continue;
    }
    alreadyLive = false;
    if (!live) continue;
    if (liveRun) state.replaces ??= liveRun;
    const current = (await replicaSetsOf(cluster, live)).at(-1)?.metadata?.name;
    if (current) obj.metadata.annotations = { ...obj.metadata.annotations, [ROLLBACK_TO]: current };
  }
  for (const obj of objects) {
    await serverSideApply(cluster, obj);
    state.touched = true;
    const replicas = isDeployment(obj) && split ? ` (${templateReplicas(obj)} replicas)` : '';
    onLog(`${cluster.name}: applied ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}${replicas}`);
  }
  state.alreadyLive = alreadyLive;
  return state;
}

/** One cluster's verdict: each Deployment's failure, and the pods' reasons as details. Rejects when the cluster cannot be read. */
export async function verdictOfCluster(
  cluster: ClusterClient,
  manifests: readonly Manifest[],
  deadline: number,
  onLog: (line: string) => void,
): Promise<{ failures: string[]; details: string[] }> {
  const failures: string[] = [];
  const details: string[] = [];
  for (const obj of objectsFor(cluster, manifests).filter(isDeployment)) {
    const ns = obj.metadata.namespace ?? cluster.namespace;
    const waitMs = Math.max(0, deadline - Date.now());
    onLog(`${cluster.name}: waiting up to ${Math.ceil(waitMs / 1000)} s for deployment ${ns}/${obj.metadata.name} to roll out (kubectl rollout status rules)`);
    const r = await waitForRollout(cluster, ns, obj.metadata.name, waitMs, onLog);
    if (r.state === 'done') {
      onLog(`${cluster.name}: ${r.message}`);
      continue;
    }
    failures.push(r.timedOut ? `${cluster.name}: timed out after ${Math.round(waitMs / 1000)} s: ${r.message}` : `${cluster.name}: ${r.message}`);
    if (r.deployment) details.push(...(await rolloutPodProblems(cluster, r.deployment)).map((l) => `${cluster.name}: ${l}`));
  }
  return { failures, details };
}

/**
 * `kubectl rollout undo` of each Deployment on one cluster: back to the ReplicaSet recorded before
 * the apply, then waits for it. Says whether anything was rolled back (false: nothing to go back to,
 * which it logs). Idempotent. Rejects when the rollback cannot be applied or does not become ready.
 */
export async function rollBackCluster(cluster: ClusterClient, manifests: readonly Manifest[], onLog: (line: string) => void): Promise<boolean> {
  const rolledBack: Manifest[] = [];
  for (const obj of objectsFor(cluster, manifests).filter(isDeployment)) {
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
    // As kubectl's undo, only the pod template changes: the replicas stay what this cluster runs (its share of a split).
    const replicas = templateReplicas(obj) !== undefined && live.spec?.replicas !== undefined ? { replicas: live.spec.replicas } : {};
    undo.spec = { ...(undo.spec as Record<string, unknown>), ...replicas, template };
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
  return rolledBack.length > 0;
}
