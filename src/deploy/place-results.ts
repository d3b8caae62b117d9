import type { ClusterDeploymentRecord } from '../runs/types.js';
import type { PlaceResult } from './deploy-target.js';

/** The run record's per-cluster entries of a deployment. */
export function clusterRecords(places: readonly PlaceResult[] | undefined): { clusters?: ClusterDeploymentRecord[] } {
  if (!places || places.length === 0) return {};
  return { clusters: places.map((p) => ({ ...p })) };
}

/** For a healthy multi-cluster release's job reason: ` on a (3 replicas), b (1 replica)`; '' for one place. */
export function placesSummary(places: readonly PlaceResult[] | undefined): string {
  if (!places || places.length < 2) return '';
  const replicas = (n: number | undefined) => (n === undefined ? '' : ` (${n} ${n === 1 ? 'replica' : 'replicas'})`);
  return ` on ${places.map((p) => `${p.name}${replicas(p.replicas)}`).join(', ')}`;
}
