import type { AppliedRelease, ClusterFailurePolicy, PlaceResult, PlaceState, ReleaseSpec, RolloutReport } from '../deploy/deploy-target.js';
import { describeError, isUnreachable, type ClusterClient } from './cluster.js';
import {
  addressOf,
  applyToCluster,
  isDeployment,
  objectsFor,
  rollBackCluster,
  templateReplicas,
  verdictOfCluster,
  type ClusterApply,
  type ReplicaPlan,
} from './cluster-release.js';
import type { Manifest } from './render.js';

export interface KubernetesRelease extends AppliedRelease {
  /** The clusters it was applied to, by name, in order. */
  clusters: string[];
}

/** One cluster's way through a rollout. `cause`: why it is not healthy, as found (before any rollback). */
interface ClusterRun {
  readonly cluster: ClusterClient;
  readonly wave: 1 | 2;
  state: PlaceState | 'pending';
  /** What went wrong first, kept through a rollback. */
  went?: 'failed' | 'unreachable';
  cause?: string;
  note?: string;
  readonly apply: ClusterApply;
  details: string[];
  readonly replicas: number | undefined;
}

const errorText = (e: unknown) => describeError(e);

/**
 * Rolls a release out to `clusters` in two waves: the first cluster (apply, then its verdict), and
 * only once it is healthy all the others in parallel, each with its own verdict, within one deadline.
 * A first wave that fails leaves the others untouched. Then `policy` decides about the clusters that
 * failed or could not be reached: `rollback-all` rolls every cluster that got the release back;
 * `keep-healthy` rolls back only those, and the healthy clusters keep the new release. Unreachable
 * means the API server did not answer (after the client's bounded retries).
 */
export async function rollOutInWaves(
  clusters: readonly ClusterClient[],
  spec: ReleaseSpec,
  manifests: readonly Manifest[],
  split: ReplicaPlan | undefined,
  policy: ClusterFailurePolicy,
  opts: { timeoutMs: number; onLog: (line: string) => void },
): Promise<RolloutReport<KubernetesRelease>> {
  const { onLog } = opts;
  const deadline = Date.now() + opts.timeoutMs;
  const runs: ClusterRun[] = clusters.map((cluster, i) => ({
    cluster,
    wave: i === 0 ? 1 : 2,
    state: 'pending',
    apply: { touched: false, alreadyLive: false },
    details: [],
    replicas: split
      ? objectsFor(cluster, manifests, split)
          .filter(isDeployment)
          .map(templateReplicas)
          .find((r) => r !== undefined)
      : undefined,
  }));
  const [first, ...rest] = runs;
  if (!first) throw new Error(`release of ${spec.service} to ${spec.environment} names no cluster`);

  const runCluster = async (r: ClusterRun): Promise<void> => {
    const name = r.cluster.name;
    const fail = (e: unknown) => {
      r.state = isUnreachable(e) ? 'unreachable' : 'failed';
      r.went = r.state;
      r.cause = errorText(e);
      if (r.state === 'unreachable') r.note = r.apply.touched ? 'part of the release may have been applied' : 'nothing was applied';
      onLog(`${name}: ${r.state} (wave ${r.wave}): ${r.cause}`);
    };
    try {
      await applyToCluster(r.cluster, spec.runId, manifests, split, onLog, r.apply);
    } catch (e) {
      fail(e);
      return;
    }
    try {
      const v = await verdictOfCluster(r.cluster, manifests, deadline, onLog);
      if (v.failures.length === 0) {
        r.state = 'healthy';
        onLog(`${name}: healthy (wave ${r.wave})`);
      } else {
        r.state = 'failed';
        r.went = 'failed';
        r.cause = v.failures.join('; ');
        r.details = v.details;
        onLog(`${name}: failed (wave ${r.wave}): ${r.cause}`);
      }
    } catch (e) {
      fail(e);
    }
  };

  if (rest.length > 0) onLog(`wave 1: ${first.cluster.name}; wave 2, once it is healthy: ${rest.map((r) => r.cluster.name).join(', ')}`);
  await runCluster(first);
  if (rest.length > 0) {
    if (first.state === 'healthy') {
      onLog(`wave 2: ${rest.map((r) => r.cluster.name).join(', ')}, in parallel`);
      await Promise.all(rest.map(runCluster));
    } else {
      for (const r of rest) {
        r.state = 'not-applied';
        r.cause = `not touched: wave 1 (${first.cluster.name}) did not become healthy`;
      }
      onLog(`wave 2 (${rest.map((r) => r.cluster.name).join(', ')}) not started: ${first.cluster.name} did not become healthy`);
    }
  }

  if (runs.every((r) => r.state === 'healthy')) {
    const firstObjects = objectsFor(first.cluster, manifests, split);
    const replaces = runs.map((r) => r.apply.replaces).find((x) => x !== undefined);
    return {
      outcome: 'healthy',
      release: {
        spec,
        url: addressOf(first.cluster, firstObjects),
        id: runs.map((r) => r.cluster.name).join(','),
        clusters: runs.map((r) => r.cluster.name),
        alreadyLive: runs.every((r) => r.apply.alreadyLive),
        ...(replaces ? { replaces } : {}),
        places: runs.map(placeOf),
      },
    };
  }

  const bad = runs.filter((r) => r.state === 'failed' || r.state === 'unreachable');
  const badNames = bad.map((r) => r.cluster.name).join(', ');
  const back = runs.filter((r) => r.apply.touched && (policy === 'rollback-all' ? r.state !== 'not-applied' : r.state !== 'healthy'));
  if (back.length > 0) onLog(`on_cluster_failure: ${policy}: rolling back ${back.map((r) => r.cluster.name).join(', ')}`);
  await Promise.all(
    back.map(async (r) => {
      const wasHealthy = r.state === 'healthy';
      try {
        if (await rollBackCluster(r.cluster, manifests, onLog)) {
          r.state = 'rolled-back';
          if (wasHealthy) r.cause = `was healthy; rolled back because ${badNames} failed (on_cluster_failure: rollback-all)`;
          r.note = 'runs the previous release';
        } else {
          r.note = wasHealthy ? 'kept: no earlier release to go back to' : 'no earlier release to go back to: left as it is';
        }
      } catch (e) {
        r.note = `the rollback failed: ${errorText(e)}`;
        if (isUnreachable(e)) r.state = 'unreachable';
        else if (wasHealthy) r.state = 'failed';
        onLog(`${r.cluster.name}: ${r.note}`);
      }
    }),
  );

  const places = runs.map(placeOf);
  const replaced = runs.map((r) => r.apply.replaces).find((x) => x !== undefined);
  const kept = runs.filter((r) => r.state === 'healthy').map((r) => r.cluster.name);
  const causes = runs.filter((r) => r.went !== undefined);
  // One cluster: its own cause says it all (the job's reason already says whether it was rolled back).
  const only = runs.length === 1 ? causes[0]?.cause : undefined;
  const reason =
    only ??
    `${causes.map((r) => `${r.cluster.name} ${r.went ?? 'failed'} (wave ${r.wave}): ${r.cause}`).join('; ')}` +
      `; clusters now: ${runs.map((r) => nowSays(r, spec.runId)).join(', ')} (on_cluster_failure: ${policy})`;
  onLog(`clusters now: ${runs.map((r) => nowSays(r, spec.runId)).join(', ')}`);
  return {
    outcome: kept.length > 0 ? 'partial' : 'failed',
    reason,
    lastLogs: runs.flatMap((r) => r.details),
    places,
    ...(replaced ? { replaces: replaced } : {}),
  };
}

function placeOf(r: ClusterRun): PlaceResult {
  const state: PlaceState = r.state === 'pending' ? 'not-applied' : r.state;
  const reason = [r.cause, r.note].filter(Boolean).join('; ');
  return { name: r.cluster.name, state, wave: r.wave, ...(reason ? { reason } : {}), ...(r.replicas !== undefined ? { replicas: r.replicas } : {}) };
}

/** What a cluster runs after the rollout, in a few words. */
function nowSays(r: ClusterRun, runId: string): string {
  const name = r.cluster.name;
  switch (r.state) {
    case 'healthy':
      return `${name} runs run ${runId} (new release${r.note ? `, ${r.note}` : ''})`;
    case 'rolled-back':
      return `${name} rolled back to the previous release`;
    case 'failed':
      return `${name} failed (${r.note ?? 'left as it is'})`;
    case 'unreachable':
      return `${name} unreachable (${r.note ?? 'state unknown'})`;
    case 'not-applied':
    case 'pending':
      return `${name} not touched (runs what it ran before)`;
  }
}
