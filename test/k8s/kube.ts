// Small helpers over @kubernetes/client-node for the k8s suite: one KubeConfig per cluster (a shared
// KubeConfig sends the *current* context's token to every cluster), server-side apply, and kubectl's
// rollout verdict.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Deployment,
  type V1ReplicaSet,
} from '@kubernetes/client-node';

const run = promisify(execFile);

export interface Kube {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly objects: KubernetesObjectApi;
}

export function kubeFor(kubeconfigPath: string): Kube {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kubeFromConfig(kc);
}

export function kubeFromConfig(kc: KubeConfig): Kube {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Server-side apply, as Slipway's deploy worker does it: our field manager, forced. */
export async function apply<T extends KubernetesObject>(kube: Kube, obj: T): Promise<T> {
  return kube.objects.patch(obj, undefined, undefined, 'slipway', true, PatchStrategy.ServerSideApply);
}

export type RolloutVerdict =
  | { readonly state: 'done'; readonly message: string }
  | { readonly state: 'waiting'; readonly message: string }
  | { readonly state: 'failed'; readonly message: string };

/** kubectl's `rollout status` rules for a Deployment (DeploymentStatusViewer, unchanged since 1.20). */
export function rolloutVerdict(d: V1Deployment): RolloutVerdict {
  const name = d.metadata?.name ?? '?';
  const st = d.status ?? {};
  if ((d.metadata?.generation ?? 0) <= (st.observedGeneration ?? -1)) {
    const progressing = st.conditions?.find((c) => c.type === 'Progressing');
    if (progressing?.reason === 'ProgressDeadlineExceeded') {
      return { state: 'failed', message: `deployment "${name}" exceeded its progress deadline` };
    }
    const want = d.spec?.replicas ?? 1;
    const updated = st.updatedReplicas ?? 0;
    if (updated < want) return { state: 'waiting', message: `${updated} out of ${want} new replicas have been updated` };
    if ((st.replicas ?? 0) > updated) return { state: 'waiting', message: 'old replicas are pending termination' };
    if ((st.availableReplicas ?? 0) < updated) {
      return { state: 'waiting', message: `${st.availableReplicas ?? 0} of ${updated} updated replicas are available` };
    }
    return { state: 'done', message: `deployment "${name}" successfully rolled out` };
  }
  return { state: 'waiting', message: 'waiting for deployment spec update to be observed' };
}

/** Polls until the verdict is final (done or failed) or the timeout passes (then: the last waiting verdict). */
export async function waitRollout(kube: Kube, namespace: string, name: string, timeoutMs: number): Promise<RolloutVerdict> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await kube.apps.readNamespacedDeployment({ name, namespace });
    const v = rolloutVerdict(d);
    if (v.state !== 'waiting' || Date.now() > deadline) return v;
    await sleep(250);
  }
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(250);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** This Deployment's ReplicaSets (owned by its UID), by revision. */
export async function replicaSetsOf(kube: Kube, d: V1Deployment): Promise<V1ReplicaSet[]> {
  const ns = d.metadata?.namespace ?? 'default';
  const list = await kube.apps.listNamespacedReplicaSet({ namespace: ns });
  return list.items
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid))
    .sort((x, y) => revision(x) - revision(y));
}

export function revision(obj: KubernetesObject): number {
  return Number(obj.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? '0');
}

/** Debian's kubectl 1.20 (kubernetes-client): an independent real client to check our verdicts. */
export async function kubectl(kubectlPath: string, kubeconfig: string, args: readonly string[]) {
  try {
    const { stdout, stderr } = await run(kubectlPath, ['--kubeconfig', kubeconfig, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
