import type { PlaceResult, PromotionGate, PromotionGates, ReleaseSpec, RolloutReport, Verdict } from '../deploy/deploy-target.js';
import { describeError, serverSideApply, type ClusterClient } from './cluster.js';
import { addressOf, isDeployment, objectsFor, readDeployment, type ReplicaPlan } from './cluster-release.js';
import { currentPodHash, readService, rolloutWaitMs, scaleDeployment, setSelector, waitReady } from './live-objects.js';
import { LABELS, type Manifest } from './render.js';
import { rolloutVerdict } from './rollout-status.js';
import {
  colorDeployment,
  otherColor,
  POD_TEMPLATE_HASH,
  PREVIEW_SUFFIX,
  previewService,
  serviceSelecting,
  servicesOf,
  SLOT,
  type Color,
} from './strategy-objects.js';
import type { KubernetesRelease } from './waves.js';

/** Argo Rollouts' default scaleDownDelaySeconds. */
export const DEFAULT_SCALE_DOWN_DELAY_MS = 30_000;
/** How often the new side is looked at while the old one is kept, and how many bad looks in a row switch back. */
const WATCH_EVERY_MS = 1_000;
const BAD_LOOKS = 3;

/** One cluster's blue-green: what it switches from and to. */
interface Side {
  readonly cluster: ClusterClient;
  readonly wave: 1 | 2;
  readonly objects: Manifest[];
  readonly deployments: Manifest[];
  readonly services: Manifest[];
  newColor: Color;
  /** The Deployments that serve before the switch (`<name>-<color>`, or the plain `<name>` of a release rolled before). */
  old: { name: string; namespace: string }[];
  /** Each active Service's live selector before this deploy touched it: what a switch back restores. */
  before: Map<string, { namespace: string; selector: Record<string, string> }>;
  state: 'pending' | 'applied' | 'switched' | 'healthy' | 'failed' | 'rolled-back' | 'not-applied';
  alreadyLive: boolean;
  replaces?: string;
  cause?: string;
  /** Why the prePromotion gate refused the new side (it was never switched). */
  refused?: string;
  details: string[];
}

const newName = (d: Manifest, color: Color) => `${d.metadata.name}-${color}`;

/**
 * Blue-green on Kubernetes, as Argo Rollouts' blueGreen strategy: the release's Deployment runs as
 * `<name>-blue` and `<name>-green` (pods labelled `slipway.dev/slot`); the active Service (the
 * release's own, its selector plus the slot) sends all traffic to one of them, a preview Service
 * (`<svc>-preview`) to the other. A deploy starts the side that is not active, waits until it is
 * Ready (the active Service untouched; a failure scales it to 0 and leaves everything else as it
 * was), then switches the active Service's selector. The old side stays scaled up for
 * `scaleDownDelayMs` for an instant switch back: if the new side's pods stop being ready in that
 * time, the Service is switched back and the deploy fails saying so; then the old side is scaled
 * to 0. A release rolled before (a plain `<name>` Deployment) is the old side of the first
 * blue-green deploy (its Service is pinned to its pods until the switch). Clusters in waves: the
 * first cluster's switch, then the others in parallel; a failure anywhere switches every cluster
 * back (the policy is always rollback-all: one release per environment).
 *
 * With promotion gates (Argo Rollouts' pre/postPromotionAnalysis): `prePromotion` runs on the first
 * cluster once its new side is Ready and before its switch (the active Service still selects the old
 * side; failing, nothing is switched anywhere and the new side is scaled to 0), `postPromotion` once
 * every cluster is switched and before the scaleDownDelay starts (the old side still up; failing,
 * every cluster is switched back). A first blue-green deploy (no old side) skips both, as Argo does.
 */
export async function rollOutBlueGreen(
  clusters: readonly ClusterClient[],
  spec: ReleaseSpec,
  manifests: readonly Manifest[],
  split: ReplicaPlan | undefined,
  scaleDownDelayMs: number,
  opts: { timeoutMs: number; onLog: (line: string) => void } & PromotionGates,
): Promise<RolloutReport<KubernetesRelease>> {
  const { onLog } = opts;
  const deadline = Date.now() + opts.timeoutMs;
  const sides: Side[] = clusters.map((cluster, i) => {
    const objects = objectsFor(cluster, manifests, split);
    const deployments = objects.filter(isDeployment);
    return {
      cluster,
      wave: i === 0 ? 1 : 2,
      objects,
      deployments,
      services: [...new Set(deployments.flatMap((d) => servicesOf(objects, d)))],
      newColor: 'blue',
      old: [],
      before: new Map(),
      state: 'pending',
      alreadyLive: false,
      details: [],
    };
  });
  const [first, ...rest] = sides;
  if (!first) throw new Error(`release of ${spec.service} to ${spec.environment} names no cluster`);

  /** A gate's verdict; a gate that throws is a failed one. */
  const gate = (g: PromotionGate, s: Side, lead: Manifest): Promise<Verdict> =>
    g({ slot: s.newColor, previewService: `${lead.metadata.name}${PREVIEW_SUFFIX}` }).catch((e: unknown) => ({
      healthy: false,
      reason: describeError(e),
      lastLogs: [],
    }));

  const runSide = async (s: Side, pre?: PromotionGate): Promise<void> => {
    const c = s.cluster;
    try {
      if (s.deployments.length === 0 || s.services.length === 0) {
        throw new Error('blue-green needs a Deployment and a Service that selects its pods (the active Service)');
      }
      const ns = (o: Manifest) => o.metadata.namespace ?? c.namespace;
      const lead = s.services[0] as Manifest;
      const liveLead = await readService(c, ns(lead), lead.metadata.name);
      const active = liveLead?.spec?.selector?.[SLOT] as Color | undefined;
      s.newColor = active ? otherColor(active) : 'blue';
      for (const svc of s.services) {
        const live = svc === lead ? liveLead : await readService(c, ns(svc), svc.metadata.name);
        if (live?.spec?.selector) s.before.set(svc.metadata.name, { namespace: ns(svc), selector: { ...live.spec.selector } });
      }
      // The old side and whether this run already serves here.
      let live = active !== undefined;
      for (const d of s.deployments) {
        const oldName = active ? newName(d, active) : d.metadata.name;
        const old = await readDeployment(c, ns(d), oldName);
        if (!old) {
          live = false;
          continue;
        }
        const run = old.spec?.template?.metadata?.annotations?.[LABELS.run];
        if (run !== spec.runId || rolloutVerdict(old).state !== 'done') live = false;
        if (run && run !== spec.runId) s.replaces ??= run;
        s.old.push({ name: oldName, namespace: ns(d) });
        // A release rolled before: its Service selects by the app's labels only, which the new side's
        // pods carry too. Pinned to the old pods until the switch, so none of them gets traffic early.
        if (!active) {
          const hash = await currentPodHash(c, old);
          for (const svc of servicesOf(s.objects, d)) {
            const liveSvc = await readService(c, ns(svc), svc.metadata.name);
            if (liveSvc?.spec?.selector && hash && liveSvc.spec.selector[POD_TEMPLATE_HASH] !== hash) {
              await setSelector(c, liveSvc, { ...liveSvc.spec.selector, [POD_TEMPLATE_HASH]: hash });
              onLog(`${c.name}: service ${ns(svc)}/${svc.metadata.name} pinned to deployment ${oldName}'s pods until the switch`);
            }
          }
        }
      }
      if (live) {
        s.alreadyLive = true;
        s.state = 'healthy';
        s.old = [];
        onLog(`${c.name}: run ${spec.runId} already serves on the ${active} side`);
        return;
      }
      onLog(`${c.name}: blue-green: starting the ${s.newColor} side${active ? ` (${active} is active)` : ''}`);
      for (const o of s.objects) {
        if (isDeployment(o) || s.services.includes(o)) continue;
        await serverSideApply(c, o);
      }
      for (const d of s.deployments) {
        await serverSideApply(c, colorDeployment(d, s.newColor));
        onLog(`${c.name}: applied deployment ${ns(d)}/${newName(d, s.newColor)}`);
      }
      for (const svc of s.services) await serverSideApply(c, previewService(svc, s.newColor));
      s.state = 'applied';
      for (const d of s.deployments) {
        await waitReady(c, ns(d), newName(d, s.newColor), Math.min(rolloutWaitMs(d), Math.max(0, deadline - Date.now())), onLog);
      }
      if (pre && s.old.length > 0) {
        onLog(`${c.name}: prePromotionAnalysis of the ${s.newColor} side (preview service ${lead.metadata.name}${PREVIEW_SUFFIX}) before the switch`);
        const verdict = await gate(pre, s, lead);
        if (!verdict.healthy) {
          s.refused = verdict.reason;
          s.state = 'failed';
          onLog(`${c.name}: prePromotionAnalysis failed: the ${s.newColor} side is not switched to`);
          return;
        }
      } else if (pre) {
        onLog(`${c.name}: no previous side: prePromotionAnalysis is skipped on a first blue-green deploy, as Argo Rollouts does`);
      }
      for (const svc of s.services) {
        await serverSideApply(c, serviceSelecting(svc, { [SLOT]: s.newColor }));
        onLog(`${c.name}: switched service ${ns(svc)}/${svc.metadata.name} to the ${s.newColor} side (run ${spec.runId})`);
      }
      s.state = 'switched';
    } catch (e) {
      s.cause = describeError(e);
      s.state = s.state === 'pending' || s.state === 'applied' ? 'failed' : s.state;
      onLog(`${c.name}: blue-green failed (wave ${s.wave}): ${s.cause}`);
    }
  };

  /** Undoes one cluster: the active Services as they were, the new side scaled to 0. */
  const undo = async (s: Side): Promise<void> => {
    const c = s.cluster;
    try {
      const switched = s.state === 'switched' || s.state === 'healthy';
      for (const [name, b] of s.before) {
        const live = await readService(c, b.namespace, name);
        if (live && JSON.stringify(live.spec?.selector ?? {}) !== JSON.stringify(b.selector)) {
          await setSelector(c, live, b.selector);
          onLog(
            `${c.name}: ${switched ? 'switched' : 'put'} service ${b.namespace}/${name} back (selector ${Object.entries(b.selector)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')})`,
          );
        }
      }
      for (const d of s.deployments) {
        const live = await readDeployment(c, d.metadata.namespace ?? c.namespace, newName(d, s.newColor));
        if (live && (live.spec?.replicas ?? 0) > 0) {
          await scaleDeployment(c, live, 0);
          onLog(`${c.name}: scaled deployment ${newName(d, s.newColor)} to 0`);
        }
      }
      s.state = s.before.size > 0 ? 'rolled-back' : 'failed';
    } catch (e) {
      s.state = 'failed';
      s.details.push(`${c.name}: the switch back failed: ${describeError(e)}`);
    }
  };

  const fail = async (reason: string): Promise<RolloutReport<KubernetesRelease>> => {
    await Promise.all(sides.filter((s) => s.state !== 'pending' && s.state !== 'not-applied' && !s.alreadyLive).map(undo));
    for (const s of sides) if (s.state === 'pending') s.state = 'not-applied';
    const replaces = sides.map((s) => s.replaces).find((r) => r !== undefined);
    return { outcome: 'failed', reason, lastLogs: sides.flatMap((s) => s.details), places: sides.map(placeOf), ...(replaces ? { replaces } : {}) };
  };

  await runSide(first, opts.prePromotion);
  if (first.refused !== undefined) return fail(`prePromotionAnalysis failed, not switched: ${first.refused}; the active service kept the previous side`);
  if (first.state === 'failed') return fail(`${first.cluster.name}: ${first.cause ?? 'failed'}; the active service is untouched`);
  if (rest.length > 0) {
    onLog(`wave 2: ${rest.map((s) => s.cluster.name).join(', ')}, in parallel`);
    await Promise.all(rest.map((s) => runSide(s)));
    const bad = rest.filter((s) => s.state === 'failed');
    if (bad.length > 0) return fail(`${bad.map((s) => `${s.cluster.name}: ${s.cause ?? 'failed'}`).join('; ')}; every cluster is switched back`);
  }

  // The old side stays up for an instant switch back while the new one proves itself.
  const keeping = sides.filter((s) => s.old.length > 0);
  if (opts.postPromotion && keeping.length > 0) {
    onLog(`postPromotionAnalysis of the ${first.newColor} side, now active; the previous side stays up until it passes`);
    const verdict = await gate(opts.postPromotion, first, first.services[0] as Manifest);
    if (!verdict.healthy) {
      onLog('postPromotionAnalysis failed: switching back');
      return fail(`postPromotionAnalysis failed, switched back: ${verdict.reason}`);
    }
  } else if (opts.postPromotion) {
    onLog('no previous side: postPromotionAnalysis is skipped on a first blue-green deploy, as Argo Rollouts does');
  }
  if (keeping.length > 0 && scaleDownDelayMs > 0) {
    const until = Date.now() + scaleDownDelayMs;
    onLog(
      `keeping ${keeping.map((s) => `${s.cluster.name}: ${s.old.map((o) => o.name).join(', ')}`).join('; ')} until ${new Date(until).toISOString()} (scaleDownDelay ${Math.round(scaleDownDelayMs / 1000)} s) for an instant switch back`,
    );
    let badLooks = 0;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(WATCH_EVERY_MS, Math.max(0, until - Date.now()))));
      const problems: string[] = [];
      for (const s of sides.filter((x) => x.state === 'switched')) {
        for (const d of s.deployments) {
          const live = await readDeployment(s.cluster, d.metadata.namespace ?? s.cluster.namespace, newName(d, s.newColor)).catch(() => undefined);
          const want = live?.spec?.replicas ?? 0;
          const ready = live?.status?.readyReplicas ?? 0;
          if (!live || ready < want) problems.push(`${s.cluster.name}: deployment ${newName(d, s.newColor)} has ${ready} of ${want} pods ready`);
        }
      }
      badLooks = problems.length > 0 ? badLooks + 1 : 0;
      if (badLooks >= BAD_LOOKS) {
        onLog(`the new side stopped being ready within scaleDownDelay: switching back (${problems.join('; ')})`);
        return fail(`switched back within scaleDownDelay: ${problems.join('; ')}`);
      }
    }
  }
  for (const s of keeping) {
    for (const o of s.old) {
      try {
        const live = await readDeployment(s.cluster, o.namespace, o.name);
        if (live && (live.spec?.replicas ?? 0) > 0) {
          await scaleDeployment(s.cluster, live, 0);
          onLog(`${s.cluster.name}: scaled the previous side ${o.namespace}/${o.name} to 0`);
        }
      } catch (e) {
        // The switch is done and serving; an old side left up costs capacity only.
        onLog(`${s.cluster.name}: could not scale ${o.namespace}/${o.name} to 0: ${describeError(e)}`);
      }
    }
  }
  for (const s of sides) if (s.state === 'switched') s.state = 'healthy';
  const replaces = sides.map((s) => s.replaces).find((r) => r !== undefined);
  return {
    outcome: 'healthy',
    release: {
      spec,
      url: addressOf(first.cluster, first.objects),
      id: sides.map((s) => `${s.cluster.name}:${s.newColor}`).join(','),
      clusters: sides.map((s) => s.cluster.name),
      alreadyLive: sides.every((s) => s.alreadyLive),
      ...(replaces ? { replaces } : {}),
      places: sides.map(placeOf),
    },
  };
}

function placeOf(s: Side): PlaceResult {
  const state = s.state === 'healthy' || s.state === 'switched' ? 'healthy' : s.state === 'pending' || s.state === 'applied' ? 'failed' : s.state;
  const reason = [s.cause, state === 'rolled-back' ? 'the active service selects the previous side' : undefined].filter(Boolean).join('; ');
  return { name: s.cluster.name, state, wave: s.wave, ...(reason ? { reason } : {}) };
}
