import type { CoreV1Event, KubernetesObject, V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';

export type RolloutVerdict =
  | { readonly state: 'done'; readonly message: string }
  | { readonly state: 'waiting'; readonly message: string }
  | { readonly state: 'failed'; readonly message: string };

export const REVISION = 'deployment.kubernetes.io/revision';

/**
 * kubectl's `rollout status` rules for a Deployment (DeploymentStatusViewer, unchanged since 1.20),
 * with kubectl's messages, so our verdict and kubectl's can be compared word for word.
 */
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
    if (updated < want) {
      return { state: 'waiting', message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
    }
    if ((st.replicas ?? 0) > updated) {
      return {
        state: 'waiting',
        message: `Waiting for deployment "${name}" rollout to finish: ${(st.replicas ?? 0) - updated} old replicas are pending termination...`,
      };
    }
    if ((st.availableReplicas ?? 0) < updated) {
      return {
        state: 'waiting',
        message: `Waiting for deployment "${name}" rollout to finish: ${st.availableReplicas ?? 0} of ${updated} updated replicas are available...`,
      };
    }
    return { state: 'done', message: `deployment "${name}" successfully rolled out` };
  }
  return { state: 'waiting', message: `Waiting for deployment spec update to be observed...` };
}

export function revisionOf(obj: KubernetesObject): number {
  return Number(obj.metadata?.annotations?.[REVISION] ?? '0');
}

/** The Deployment's ReplicaSets (owned by its UID), oldest revision first. */
export function ownedReplicaSets(d: V1Deployment, all: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  return all.filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid)).sort((x, y) => revisionOf(x) - revisionOf(y));
}

/** Waiting reasons that mean the pod will not become ready by itself soon. */
const STUCK = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'ErrImageNeverPull',
  'RunContainerError',
]);

/**
 * Why the pods of a rollout are not ready, one line per pod and problem, from the pods' status and
 * their events: image pulls, crash loops (with the last exit), unschedulable pods, failing readiness
 * probes. Pure: the caller lists the pods of the new ReplicaSet and their events.
 */
export function podProblems(pods: readonly V1Pod[], events: readonly CoreV1Event[]): string[] {
  const lines: string[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '?';
    if (pod.metadata?.deletionTimestamp) continue;
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') {
      lines.push(`pod ${name}: ${scheduled.reason ?? 'not scheduled'}: ${scheduled.message ?? ''}`.trim());
      continue;
    }
    for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = cs.state?.waiting;
      if (waiting?.reason && STUCK.has(waiting.reason)) {
        const last = cs.lastState?.terminated;
        const exit =
          waiting.reason === 'CrashLoopBackOff' && last
            ? ` (last exit: code ${last.exitCode}${last.reason ? `, ${last.reason}` : ''}, ${cs.restartCount} restarts)`
            : '';
        lines.push(`pod ${name}, container ${cs.name}: ${waiting.reason}: ${waiting.message ?? ''}${exit}`.trim());
      } else if (cs.state?.running && !cs.ready) {
        const probe = events
          .filter((e) => e.involvedObject?.name === name && e.reason === 'Unhealthy' && /^Readiness probe/.test(e.message ?? ''))
          .sort((a, b) => eventTime(b) - eventTime(a))[0];
        if (probe) lines.push(`pod ${name}, container ${cs.name}: readiness probe failing: ${probe.message ?? ''}`.trim());
      } else if (cs.state?.terminated && !cs.ready) {
        const t = cs.state.terminated;
        lines.push(`pod ${name}, container ${cs.name}: exited with code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`);
      }
    }
  }
  return [...new Set(lines)];
}

function eventTime(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp;
  return t ? new Date(t).getTime() : 0;
}
