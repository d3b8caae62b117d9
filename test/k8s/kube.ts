// The k8s suite's access to the clusters goes through Slipway's own code (src/kubernetes/): one
// client per cluster (a shared KubeConfig sends the *current* context's token to every cluster),
// server-side apply as field manager `slipway` (not forced), and kubectl's rollout verdict from a watch.
// Only what no deploy needs (kubectl itself, waiting for test conditions) is the suite's own.
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig, KubernetesObject, V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import { clusterFromKubeConfig, clusterFromKubeconfigFile, serverSideApply, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { ownedReplicaSets, revisionOf, type RolloutVerdict } from '../../src/kubernetes/rollout-status.js';
import { waitForRollout } from '../../src/kubernetes/wait-rollout.js';

export { rolloutVerdict, type RolloutVerdict } from '../../src/kubernetes/rollout-status.js';

const run = promisify(execFile);

export type Kube = ClusterClient;

export function kubeFor(kubeconfigPath: string): Kube {
  return clusterFromKubeconfigFile(basename(kubeconfigPath), kubeconfigPath);
}

export function kubeFromConfig(kc: KubeConfig): Kube {
  return clusterFromKubeConfig('test', kc);
}

/** Server-side apply, Slipway's: field manager `slipway`, not forced. */
export async function apply<T extends KubernetesObject>(kube: Kube, obj: T): Promise<T> {
  return serverSideApply(kube, obj);
}

/** Slipway's wait: a watch until the verdict is final or the timeout passes (then: the last waiting verdict). */
export async function waitRollout(kube: Kube, namespace: string, name: string, timeoutMs: number): Promise<RolloutVerdict> {
  const r = await waitForRollout(kube, namespace, name, timeoutMs, () => undefined);
  return { state: r.state, message: r.message } as RolloutVerdict;
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
  return ownedReplicaSets(d, list.items);
}

export function revision(obj: KubernetesObject): number {
  return revisionOf(obj);
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
