import type { V1Node, V1Pod } from '@kubernetes/client-node';

/** One cluster's part of a split: its name and how much it should get relative to the others. */
export interface ClusterWeight {
  readonly name: string;
  /** A non-negative number (a configured weight, or free CPU in millicores). */
  readonly weight: number;
}

/**
 * Splits `total` replicas across clusters in proportion to their weights, every cluster getting at
 * least 1. Rounding: each gets the whole part of its exact share, and the replicas left over go one
 * each to the largest fractional parts (ties: the cluster listed first) — Hamilton's
 * largest-remainder method, so the shares always add up to `total`. A cluster whose share rounds to
 * 0 then takes 1 from the cluster with the most (ties: the one listed last), so with fewer replicas
 * than clusters every cluster still gets 1 and the sum is the number of clusters. All weights 0
 * (nothing known, or no free capacity anywhere) splits evenly.
 */
export function splitReplicas(total: number, clusters: readonly ClusterWeight[]): Map<string, number> {
  const n = clusters.length;
  if (n === 0) return new Map();
  const sum = clusters.reduce((s, c) => s + Math.max(0, c.weight), 0);
  const weights = clusters.map((c) => (sum > 0 ? Math.max(0, c.weight) : 1));
  const weightSum = sum > 0 ? sum : n;
  const want = Math.max(0, Math.floor(total));
  const exact = weights.map((w) => (want * w) / weightSum);
  const shares = exact.map((x) => Math.floor(x));
  let left = want - shares.reduce((s, x) => s + x, 0);
  const byRemainder = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left <= 0) break;
    shares[i] = (shares[i] ?? 0) + 1;
    left -= 1;
  }
  for (let i = 0; i < n; i++) {
    if ((shares[i] ?? 0) > 0) continue;
    let donor = -1;
    for (let j = 0; j < n; j++) if ((shares[j] ?? 0) > 1 && (donor < 0 || (shares[j] ?? 0) >= (shares[donor] ?? 0))) donor = j;
    if (donor >= 0) shares[donor] = (shares[donor] ?? 0) - 1;
    shares[i] = 1;
  }
  return new Map(clusters.map((c, i) => [c.name, shares[i] ?? 1]));
}

/** A CPU quantity (`2`, `1.5`, `250m`, `100000u`, `5n`) in millicores; undefined when it is not one. */
export function cpuMillis(quantity: string | undefined): number | undefined {
  if (quantity === undefined) return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)(n|u|m|k|M|G)?$/.exec(quantity.trim());
  if (!m) return undefined;
  const value = Number(m[1]);
  const scale: Record<string, number> = { n: 1e-6, u: 1e-3, m: 1, '': 1000, k: 1e6, M: 1e9, G: 1e12 };
  return value * (scale[m[2] ?? ''] ?? 1000);
}

/** A node the scheduler may place new pods on: Ready and not cordoned. */
function schedulable(node: V1Node): boolean {
  return !node.spec?.unschedulable && (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** What a pod asks of its node, as the scheduler counts it: the larger of its containers' sum and its biggest init container. */
function podCpuRequest(pod: V1Pod): number {
  const sum = (pod.spec?.containers ?? []).reduce((s, c) => s + (cpuMillis(c.resources?.requests?.['cpu']) ?? 0), 0);
  const init = Math.max(0, ...(pod.spec?.initContainers ?? []).map((c) => cpuMillis(c.resources?.requests?.['cpu']) ?? 0));
  return Math.max(sum, init);
}

/**
 * A cluster's free CPU in millicores: over its schedulable nodes, allocatable CPU minus what the pods
 * bound to each node request (pods that ended, Succeeded or Failed, hold nothing). A node never goes
 * below 0, so one full node does not hide another's room.
 */
export function freeCpuMillis(nodes: readonly V1Node[], pods: readonly V1Pod[]): number {
  const requested = new Map<string, number>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (!node || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    requested.set(node, (requested.get(node) ?? 0) + podCpuRequest(pod));
  }
  let free = 0;
  for (const node of nodes) {
    if (!schedulable(node)) continue;
    const allocatable = cpuMillis(node.status?.allocatable?.['cpu']) ?? 0;
    free += Math.max(0, allocatable - (requested.get(node.metadata?.name ?? '') ?? 0));
  }
  return Math.round(free);
}
