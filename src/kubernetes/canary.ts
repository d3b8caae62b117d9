import type { AppliedRelease, CanaryControl, ReleaseSpec, RolloutReport, Verdict } from '../deploy/deploy-target.js';
import { describeError, serverSideApply, type ClusterClient } from './cluster.js';
import { addressOf, isDeployment, objectsFor, readDeployment, templateReplicas } from './cluster-release.js';
import { currentPodHash, deleteObject, readService, rolloutWaitMs, scaleDeployment, setSelector, waitReady } from './live-objects.js';
import { LABELS, type Manifest } from './render.js';
import { replicaPlan } from './replica-plan.js';
import { rolloutPodProblems } from './wait-rollout.js';
import {
  CANARY_SUFFIX,
  canaryDeployment,
  canaryIngress,
  canaryReplicas,
  canaryService,
  effectiveWeight,
  ingressesTo,
  POD_TEMPLATE_HASH,
  servicesOf,
  SUPPORT_KINDS,
} from './strategy-objects.js';

/** A canary's pods get this long to be ready again before a check says no (as the docker host's 5 s). */
const CHECK_GRACE_MS = 5_000;
/** A promotion without a deadline from the caller waits at most this long. */
const PROMOTE_DEFAULT_MS = 15 * 60_000;

/** One stable Deployment and its canary on the canary's cluster. */
interface Pair {
  /** The release's Deployment for this cluster (its share of the replicas). */
  object: Manifest;
  namespace: string;
  /** Replicas the release runs here (what stable + canary keep, without a router). */
  total: number;
}

/** What `start` left behind, carried by the release through the steps. */
export interface KubernetesCanaryRelease extends AppliedRelease {
  clusters: string[];
  canary?: { cluster: string; pairs: Pair[]; objects: Manifest[]; router: boolean };
}

export interface CanaryDeps {
  clustersOf(names: readonly string[]): ClusterClient[];
  /** The target's whole rollout (waves over every cluster): how the canary is promoted. */
  rollOut(spec: ReleaseSpec, opts: { timeoutMs: number; onLog: (line: string) => void }): Promise<RolloutReport>;
}

function stateOf(release: AppliedRelease): NonNullable<KubernetesCanaryRelease['canary']> {
  const c = (release as KubernetesCanaryRelease).canary;
  if (!c) throw new Error('this release was not started as a canary');
  return c;
}

/**
 * A canary on Kubernetes. The weight is carried by a second Deployment, `<name>-canary`, beside the
 * stable one and behind the same Service (its pods keep the Service's labels, plus
 * `slipway.dev/track: canary`): at a weight the canary runs ceil(total × weight / 100) replicas and
 * the stable one the rest, so kube-proxy spreads requests in that ratio. With `traffic_router:
 * nginx-ingress` a second Ingress with ingress-nginx's canary annotations carries the weight too
 * (to a `<svc>-canary` Service); the stable Services are then pinned to the stable pods
 * (`pod-template-hash`), so the router's split is exact, and stable keeps all its replicas.
 * Several clusters: the steps run on the first cluster; the promotion then rolls the release out
 * to every cluster in waves (waves.ts), and the canary is removed.
 */
export function kubernetesCanary(deps: CanaryDeps): CanaryControl {
  const clusterOf = (release: AppliedRelease): ClusterClient => {
    const c = deps.clustersOf([stateOf(release).cluster])[0];
    if (!c) throw new Error('the canary has no cluster');
    return c;
  };

  const servicesBehind = (objects: readonly Manifest[], pairs: readonly Pair[]) => [...new Set(pairs.flatMap((p) => servicesOf(objects, p.object)))];

  /** Back to stable alone: stable at its total, the router's canary objects gone, the stable Services unpinned, the canary scaled to 0 and deleted. */
  async function removeCanary(cluster: ClusterClient, state: NonNullable<KubernetesCanaryRelease['canary']>, onLog: (l: string) => void, restore: boolean) {
    for (const p of restore ? state.pairs : []) {
      const live = await readDeployment(cluster, p.namespace, p.object.metadata.name);
      if (live && (live.spec?.replicas ?? 0) !== p.total) {
        await scaleDeployment(cluster, live, p.total);
        onLog(`${cluster.name}: deployment ${p.namespace}/${p.object.metadata.name} back to ${p.total} replicas`);
      }
      if (live) await waitReady(cluster, p.namespace, p.object.metadata.name, rolloutWaitMs(live), onLog);
    }
    const services = servicesBehind(state.objects, state.pairs);
    if (state.router) {
      for (const ing of ingressesTo(state.objects, new Set(services.map((s) => s.metadata.name)))) {
        const ns = ing.metadata.namespace ?? cluster.namespace;
        if (await deleteObject(cluster, ing.apiVersion, 'Ingress', ns, `${ing.metadata.name}${CANARY_SUFFIX}`))
          onLog(`${cluster.name}: deleted canary ingress ${ns}/${ing.metadata.name}${CANARY_SUFFIX}`);
      }
      for (const svc of services) {
        const ns = svc.metadata.namespace ?? cluster.namespace;
        const live = await readService(cluster, ns, svc.metadata.name);
        if (live?.spec?.selector?.[POD_TEMPLATE_HASH] !== undefined) {
          const { [POD_TEMPLATE_HASH]: _pin, ...selector } = live.spec.selector;
          await setSelector(cluster, live, selector);
          onLog(`${cluster.name}: service ${ns}/${svc.metadata.name} selects every pod of the release again`);
        }
        await deleteObject(cluster, 'v1', 'Service', ns, `${svc.metadata.name}${CANARY_SUFFIX}`);
      }
    }
    for (const p of state.pairs) {
      const name = `${p.object.metadata.name}${CANARY_SUFFIX}`;
      const live = await readDeployment(cluster, p.namespace, name);
      if (!live) continue;
      if ((live.spec?.replicas ?? 0) > 0) await scaleDeployment(cluster, live, 0);
      await deleteObject(cluster, 'apps/v1', 'Deployment', p.namespace, name);
      onLog(`${cluster.name}: canary deployment ${p.namespace}/${name} scaled to 0 and deleted`);
    }
  }

  return {
    async start(spec, onLog): Promise<KubernetesCanaryRelease> {
      const manifests = spec.kubernetes?.manifests ?? [];
      const clusters = deps.clustersOf(spec.kubernetes?.clusters ?? []);
      const first = clusters[0];
      if (!first) throw new Error(`release of ${spec.service} to ${spec.environment} names no cluster`);
      const split = await replicaPlan(clusters, manifests, spec.kubernetes?.weights, onLog);
      const objects = objectsFor(first, manifests, split);
      const base = { spec, url: addressOf(first, objects), id: `${first.name}:canary`, clusters: clusters.map((c) => c.name) };
      const pairs: Pair[] = [];
      let replaces: string | undefined;
      let allLive = true;
      for (const d of objects.filter(isDeployment)) {
        const ns = d.metadata.namespace ?? first.namespace;
        const live = await readDeployment(first, ns, d.metadata.name);
        const liveRun = live?.spec?.template?.metadata?.annotations?.[LABELS.run];
        // No stable Deployment: nothing to compare with; the runner rolls the release out as usual.
        if (!live || !liveRun) return { ...base, alreadyLive: false };
        if (liveRun !== spec.runId) allLive = false;
        replaces ??= liveRun;
        pairs.push({ object: d, namespace: ns, total: templateReplicas(d) ?? live.spec?.replicas ?? 1 });
      }
      if (pairs.length === 0) throw new Error('the release has no Deployment to run a canary of');
      if (allLive) return { ...base, alreadyLive: true };
      const router = spec.kubernetes?.trafficRouter === 'nginx-ingress';
      const state = { cluster: first.name, pairs, objects, router };
      if (clusters.length > 1)
        onLog(
          `canary steps on ${first.name}; ${clusters
            .slice(1)
            .map((c) => c.name)
            .join(', ')} get the release when it is promoted`,
        );
      // What the canary's pods need (its config has a name of its own), then the canary at 0 replicas.
      for (const o of objects.filter((o) => SUPPORT_KINDS.has(o.kind))) await serverSideApply(first, o);
      for (const p of pairs) {
        await serverSideApply(first, canaryDeployment(p.object, 0));
        onLog(`${first.name}: started canary deployment ${p.namespace}/${p.object.metadata.name}${CANARY_SUFFIX} (0 replicas) beside ${p.total} stable`);
      }
      if (router) {
        for (const svc of servicesBehind(objects, pairs)) {
          await serverSideApply(first, canaryService(svc));
          const ns = svc.metadata.namespace ?? first.namespace;
          const live = await readService(first, ns, svc.metadata.name);
          const stable = await readDeployment(first, pairs[0]?.namespace ?? ns, pairs[0]?.object.metadata.name ?? '');
          const hash = stable ? await currentPodHash(first, stable) : undefined;
          if (live && hash && live.spec?.selector?.[POD_TEMPLATE_HASH] !== hash) {
            await setSelector(first, live, { ...(live.spec?.selector ?? {}), [POD_TEMPLATE_HASH]: hash });
            onLog(
              `${first.name}: service ${ns}/${svc.metadata.name} pinned to the stable pods (${POD_TEMPLATE_HASH}=${hash}); the canary gets its share through the canary ingress`,
            );
          }
        }
      }
      return { ...base, alreadyLive: false, ...(replaces ? { replaces } : {}), canary: state };
    },

    // The canary has no pods before its first weight; setWeight waits for them.
    waitHealthy: () => Promise.resolve({ healthy: true }),

    async setWeight(release, weight, onLog, timeoutMs) {
      const cluster = clusterOf(release);
      const state = stateOf(release);
      const said: string[] = [];
      // The canary's pods first (ready), then the stable ones scaled down: the Service always has the total.
      for (const p of state.pairs) {
        const r = canaryReplicas(p.total, weight, state.router);
        const canary = canaryDeployment(p.object, r.canary);
        await serverSideApply(cluster, canary);
        await waitReady(cluster, p.namespace, canary.metadata.name, Math.min(rolloutWaitMs(canary), timeoutMs ?? Number.POSITIVE_INFINITY), onLog);
        const live = await readDeployment(cluster, p.namespace, p.object.metadata.name);
        if (!live) throw new Error(`${cluster.name}: the stable deployment ${p.namespace}/${p.object.metadata.name} is gone`);
        if ((live.spec?.replicas ?? 0) !== r.stable) await scaleDeployment(cluster, live, r.stable);
        await waitReady(cluster, p.namespace, p.object.metadata.name, rolloutWaitMs(live), onLog);
        said.push(
          `${p.object.metadata.name}${CANARY_SUFFIX} ${r.canary}, ${p.object.metadata.name} ${r.stable}` +
            (state.router ? '' : ` (${effectiveWeight(r)}% of the Service's pods)`),
        );
      }
      if (state.router) {
        const services = servicesBehind(state.objects, state.pairs);
        const renamed = new Map(services.map((s) => [s.metadata.name, `${s.metadata.name}${CANARY_SUFFIX}`]));
        for (const ing of ingressesTo(state.objects, new Set(renamed.keys()))) {
          await serverSideApply(cluster, canaryIngress(ing, weight, renamed));
          said.push(`ingress ${ing.metadata.name}${CANARY_SUFFIX} canary-weight ${weight}`);
        }
      }
      onLog(`${cluster.name}: canary at ${weight}%: ${said.join('; ')}`);
    },

    async check(release): Promise<Verdict> {
      const cluster = clusterOf(release);
      const state = stateOf(release);
      const until = Date.now() + CHECK_GRACE_MS;
      for (;;) {
        let problem: string | undefined;
        let lastLogs: string[] = [];
        for (const p of state.pairs) {
          const name = `${p.object.metadata.name}${CANARY_SUFFIX}`;
          const d = await readDeployment(cluster, p.namespace, name).catch((e: unknown) => {
            problem = `${cluster.name}: cannot read deployment ${p.namespace}/${name}: ${describeError(e)}`;
            return undefined;
          });
          if (problem) break;
          if (!d) {
            problem = `${cluster.name}: canary deployment ${p.namespace}/${name} is gone`;
            break;
          }
          const want = d.spec?.replicas ?? 0;
          const ready = d.status?.readyReplicas ?? 0;
          if (ready < want) {
            problem = `${cluster.name}: canary deployment ${p.namespace}/${name} has ${ready} of ${want} pods ready`;
            lastLogs = await rolloutPodProblems(cluster, d);
            break;
          }
        }
        if (!problem) return { healthy: true };
        if (Date.now() >= until) return { healthy: false, reason: problem, lastLogs };
        await new Promise((r) => setTimeout(r, 1_000));
      }
    },

    async promote(release, onLog, timeoutMs = PROMOTE_DEFAULT_MS) {
      const cluster = clusterOf(release);
      const state = stateOf(release);
      if (state.router) {
        // Everything to the canary while the stable pods are replaced, so no request lands on a pinned Service without pods.
        const services = servicesBehind(state.objects, state.pairs);
        const renamed = new Map(services.map((s) => [s.metadata.name, `${s.metadata.name}${CANARY_SUFFIX}`]));
        for (const ing of ingressesTo(state.objects, new Set(renamed.keys()))) await serverSideApply(cluster, canaryIngress(ing, 100, renamed));
      }
      onLog(`promoting: the stable deployments get run ${release.spec.runId}'s pod template on every cluster, then the canary is removed`);
      const report = await deps.rollOut(release.spec, { timeoutMs, onLog });
      if (report.outcome !== 'healthy') throw new Error(`the promotion did not roll out: ${report.reason}`);
      await removeCanary(cluster, state, onLog, false);
    },

    async abort(release, onLog) {
      if (!(release as KubernetesCanaryRelease).canary) return;
      await removeCanary(clusterOf(release), stateOf(release), onLog, true);
    },
  };
}
