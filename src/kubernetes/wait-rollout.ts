import type { CoreV1Event, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { describeError, retrying, type ClusterClient } from './cluster.js';
import { ownedReplicaSets, podProblems, rolloutVerdict, type RolloutVerdict } from './rollout-status.js';

export type WaitResult = RolloutVerdict & { readonly timedOut: boolean; readonly deployment: V1Deployment | undefined };

const REWATCH_PAUSE_MS = 250;

/**
 * Waits until the Deployment's rollout is done or failed by kubectl's rules, or `timeoutMs` passes.
 * It reads the Deployment once, then watches it from that resourceVersion (no polling loop); a
 * watch that ends (server timeout, dropped connection, 410 Gone) is followed by a fresh read and a
 * new watch, until the deadline. On the deadline it answers the last `waiting` verdict with
 * `timedOut`. `onLog` gets every new waiting message (what it waits for). Rejects only when the
 * Deployment cannot be read at all (after the client's retries).
 */
export async function waitForRollout(
  cluster: ClusterClient,
  namespace: string,
  name: string,
  timeoutMs: number,
  onLog: (line: string) => void,
): Promise<WaitResult> {
  const deadline = Date.now() + timeoutMs;
  let lastMessage = '';
  const note = (v: RolloutVerdict) => {
    if (v.state === 'waiting' && v.message !== lastMessage) onLog(`${cluster.name}: ${v.message}`);
    lastMessage = v.message;
  };
  for (;;) {
    const d = await retrying(`${cluster.name}: read deployment ${namespace}/${name}`, () => cluster.apps.readNamespacedDeployment({ name, namespace }));
    let verdict = rolloutVerdict(d);
    note(verdict);
    if (verdict.state !== 'waiting') return { ...verdict, timedOut: false, deployment: d };
    if (Date.now() >= deadline) return { ...verdict, timedOut: true, deployment: d };

    let latest: V1Deployment = d;
    const outcome = await new Promise<'final' | 'ended' | 'deadline' | 'deleted'>((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (how: 'final' | 'ended' | 'deadline' | 'deleted') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        controller?.abort();
        resolve(how);
      };
      const timer = setTimeout(() => finish('deadline'), Math.max(0, deadline - Date.now()));
      cluster.watch
        .watch(
          `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`,
          {
            fieldSelector: `metadata.name=${name}`,
            resourceVersion: d.metadata?.resourceVersion,
            allowWatchBookmarks: true,
            // The server ends the watch by then too, so a silently dead connection cannot outlive the deadline.
            timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
          },
          (phase: string, obj: unknown) => {
            if (phase === 'DELETED') return finish('deleted');
            if (phase !== 'ADDED' && phase !== 'MODIFIED') return undefined; // BOOKMARK, ERROR (then the watch ends)
            latest = obj as V1Deployment;
            verdict = rolloutVerdict(latest);
            note(verdict);
            if (verdict.state !== 'waiting') finish('final');
            return undefined;
          },
          () => finish('ended'),
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          () => finish('ended'),
        );
    });
    if (outcome === 'final') return { ...verdict, timedOut: false, deployment: latest };
    if (outcome === 'deleted')
      return { state: 'failed', message: `deployment "${name}" was deleted during the rollout`, timedOut: false, deployment: undefined };
    if (outcome === 'deadline') return { ...verdict, timedOut: true, deployment: latest };
    await new Promise((r) => setTimeout(r, Math.min(REWATCH_PAUSE_MS, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * Why the newest ReplicaSet's pods are not ready (see `podProblems`), at most `max` lines. Never
 * rejects: the reasons are extra detail for an error that is reported anyway.
 */
export async function rolloutPodProblems(cluster: ClusterClient, d: V1Deployment, max = 6): Promise<string[]> {
  try {
    const namespace = d.metadata?.namespace ?? cluster.namespace;
    const rss = ownedReplicaSets(d, (await cluster.apps.listNamespacedReplicaSet({ namespace })).items);
    const newest = rss[rss.length - 1];
    if (!newest?.metadata?.uid) return [];
    const selector = Object.entries(d.spec?.selector?.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods: V1Pod[] = (await cluster.core.listNamespacedPod({ namespace, labelSelector: selector })).items.filter((p) =>
      p.metadata?.ownerReferences?.some((o) => o.uid === newest.metadata?.uid),
    );
    let events: CoreV1Event[] = [];
    if (pods.some((p) => p.status?.containerStatuses?.some((c) => c.state?.running && !c.ready))) {
      events = (await cluster.core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.kind=Pod,reason=Unhealthy' })).items;
    }
    const lines = podProblems(pods, events);
    return lines.length > max ? [...lines.slice(0, max), `… and ${lines.length - max} more`] : lines;
  } catch (e) {
    return [`(could not read the pods: ${describeError(e)})`];
  }
}
