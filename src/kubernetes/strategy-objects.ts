import type { KubernetesStrategy } from '../deploy/deploy-target.js';
import { isDeployment, ROLLBACK_TO } from './cluster-release.js';
import type { Manifest } from './render.js';

// Pure: the objects a strategy adds to or derives from a rendered release. The cluster work that
// uses them is in canary.ts and blue-green.ts.

/** On a canary's pods (and its Deployment and Service): what tells them from the stable ones. */
export const TRACK = 'slipway.dev/track';
/** On a blue-green Deployment's pods: which of the two it is. The active Service selects one. */
export const SLOT = 'slipway.dev/slot';
/** The ReplicaSet label Kubernetes puts on every pod: a Service pinned to it selects one ReplicaSet's pods. */
export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const CANARY_SUFFIX = '-canary';
export const PREVIEW_SUFFIX = '-preview';
/** ingress-nginx's canary annotations (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#canary). */
export const NGINX_CANARY = 'nginx.ingress.kubernetes.io/canary';
export const NGINX_CANARY_WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';

export type Color = 'blue' | 'green';
export const otherColor = (c: Color): Color => (c === 'blue' ? 'green' : 'blue');

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const specOf = (m: Manifest): Rec => (isRec(m.spec) ? m.spec : {});

/**
 * Writes the pipeline file's rolling pace onto every Deployment's `spec.strategy.rollingUpdate`
 * (built-in or repository templates alike): the values given replace the template's, the others
 * stay. Plain `rolling` (no pace) leaves the templates as they are. Returns copies.
 */
export function withRollingUpdate(manifests: readonly Manifest[], strategy: KubernetesStrategy | undefined): Manifest[] {
  if (strategy?.type !== 'rolling' || (strategy.maxSurge === undefined && strategy.maxUnavailable === undefined)) return [...manifests];
  return manifests.map((m) => {
    if (!isDeployment(m)) return m;
    const copy = structuredClone(m);
    const spec = specOf(copy);
    const before = isRec(spec.strategy) && spec.strategy.type === 'RollingUpdate' && isRec(spec.strategy.rollingUpdate) ? spec.strategy.rollingUpdate : {};
    spec.strategy = {
      type: 'RollingUpdate',
      rollingUpdate: {
        ...before,
        ...(strategy.maxSurge !== undefined ? { maxSurge: strategy.maxSurge } : {}),
        ...(strategy.maxUnavailable !== undefined ? { maxUnavailable: strategy.maxUnavailable } : {}),
      },
    };
    copy.spec = spec;
    return copy;
  });
}

/**
 * How `total` replicas carry a canary's `weight` (percent) through one Service: the canary gets
 * ceil(total × weight / 100), the stable Deployment the rest, so the Service's endpoints are in that
 * ratio. While the weight is under 100 the stable one keeps at least one pod (else a small total
 * would send everything to the canary at 10%). With a traffic router the router carries the weight:
 * stable keeps its total, and the canary gets its share of pods to take that share of requests.
 */
export function canaryReplicas(total: number, weight: number, router: boolean): { canary: number; stable: number } {
  const w = Math.max(0, Math.min(100, weight));
  if (w === 0 || total <= 0) return { canary: 0, stable: Math.max(total, 0) };
  const canary = Math.min(total, Math.ceil((total * w) / 100));
  if (router) return { canary, stable: total };
  return { canary, stable: w < 100 ? Math.max(1, total - canary) : 0 };
}

/** The percent of endpoints that are the canary's with these replicas (what kube-proxy balances over). */
export function effectiveWeight(r: { canary: number; stable: number }): number {
  return r.canary + r.stable === 0 ? 0 : Math.round((100 * r.canary) / (r.canary + r.stable));
}

function withLabel(m: Manifest, name: string, key: string, value: string, replicas?: number): Manifest {
  const copy = structuredClone(m);
  copy.metadata = { ...copy.metadata, name, labels: { ...copy.metadata.labels, [key]: value } };
  if (copy.metadata.annotations) {
    const { [ROLLBACK_TO]: _dropped, ...rest } = copy.metadata.annotations;
    copy.metadata.annotations = rest;
  }
  const spec = specOf(copy);
  const selector = isRec(spec.selector) ? spec.selector : {};
  const matchLabels = isRec(selector.matchLabels) ? selector.matchLabels : {};
  spec.selector = { ...selector, matchLabels: { ...matchLabels, [key]: value } };
  const template = isRec(spec.template) ? spec.template : {};
  const meta = isRec(template.metadata) ? template.metadata : {};
  const labels = isRec(meta.labels) ? meta.labels : {};
  spec.template = { ...template, metadata: { ...meta, labels: { ...labels, [key]: value } } };
  if (replicas !== undefined) spec.replicas = replicas;
  copy.spec = spec;
  return copy;
}

/** The canary twin of a release's Deployment: `<name>-canary`, its pods labelled `slipway.dev/track: canary` (still selected by the Service). */
export function canaryDeployment(d: Manifest, replicas: number): Manifest {
  return withLabel(d, `${d.metadata.name}${CANARY_SUFFIX}`, TRACK, 'canary', replicas);
}

/** A blue-green side of a release's Deployment: `<name>-blue` or `<name>-green`, its pods labelled `slipway.dev/slot`. */
export function colorDeployment(d: Manifest, color: Color): Manifest {
  return withLabel(d, `${d.metadata.name}-${color}`, SLOT, color);
}

/** The pod labels a Deployment's template gives. */
export function podLabels(d: Manifest): Record<string, string> {
  const t = specOf(d).template;
  const meta = isRec(t) && isRec(t.metadata) ? t.metadata : {};
  return isRec(meta.labels) ? (meta.labels as Record<string, string>) : {};
}

export function selectorOf(svc: Manifest): Record<string, string> {
  const s = specOf(svc).selector;
  return isRec(s) ? (s as Record<string, string>) : {};
}

/** Services of the release whose selector picks `d`'s pods: the ones a strategy steers. */
export function servicesOf(objects: readonly Manifest[], d: Manifest): Manifest[] {
  const pods = podLabels(d);
  return objects.filter((o) => {
    if (o.apiVersion !== 'v1' || o.kind !== 'Service') return false;
    const sel = Object.entries(selectorOf(o));
    return sel.length > 0 && sel.every(([k, v]) => pods[k] === v);
  });
}

/** A copy of `svc` whose selector also requires `extra` (named `name` when given). */
export function serviceSelecting(svc: Manifest, extra: Record<string, string>, name = svc.metadata.name): Manifest {
  const copy = structuredClone(svc);
  copy.metadata = { ...copy.metadata, name };
  const spec = specOf(copy);
  // A copy under another name gets its own cluster IP.
  if (name !== svc.metadata.name) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  spec.selector = { ...selectorOf(svc), ...extra };
  copy.spec = spec;
  return copy;
}

/** The canary's own Service (`<svc>-canary`, only canary pods): what the canary Ingress sends its share to. */
export function canaryService(svc: Manifest): Manifest {
  const copy = serviceSelecting(svc, { [TRACK]: 'canary' }, `${svc.metadata.name}${CANARY_SUFFIX}`);
  copy.metadata.labels = { ...copy.metadata.labels, [TRACK]: 'canary' };
  return copy;
}

/** The preview Service of a blue-green release (`<svc>-preview`): the new side, before and after the switch. */
export function previewService(svc: Manifest, color: Color): Manifest {
  return serviceSelecting(svc, { [SLOT]: color }, `${svc.metadata.name}${PREVIEW_SUFFIX}`);
}

/**
 * The canary twin of an Ingress for ingress-nginx: same hosts and paths, `<name>-canary`, with
 * `canary: "true"` and `canary-weight`, its backends renamed to the canary Services (`renamed`:
 * stable Service name → canary Service name). ingress-nginx sends `weight` percent of the
 * requests that match the stable Ingress to these backends.
 */
export function canaryIngress(ing: Manifest, weight: number, renamed: ReadonlyMap<string, string>): Manifest {
  const copy = structuredClone(ing);
  copy.metadata = {
    ...copy.metadata,
    name: `${ing.metadata.name}${CANARY_SUFFIX}`,
    labels: { ...copy.metadata.labels, [TRACK]: 'canary' },
    annotations: { ...copy.metadata.annotations, [NGINX_CANARY]: 'true', [NGINX_CANARY_WEIGHT]: String(Math.round(weight)) },
  };
  const rename = (backend: unknown) => {
    if (isRec(backend) && isRec(backend.service) && typeof backend.service.name === 'string') {
      backend.service.name = renamed.get(backend.service.name) ?? backend.service.name;
    }
  };
  const spec = specOf(copy);
  rename(spec.defaultBackend);
  for (const rule of Array.isArray(spec.rules) ? spec.rules : []) {
    const paths = isRec(rule) && isRec(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths : [];
    for (const p of paths) if (isRec(p)) rename(p.backend);
  }
  copy.spec = spec;
  return copy;
}

/** The Service names an Ingress sends to (default backend and every path). */
export function ingressBackends(ing: Manifest): string[] {
  const names: string[] = [];
  const add = (backend: unknown) => {
    if (isRec(backend) && isRec(backend.service) && typeof backend.service.name === 'string') names.push(backend.service.name);
  };
  const spec = specOf(ing);
  add(spec.defaultBackend);
  for (const rule of Array.isArray(spec.rules) ? spec.rules : []) {
    const paths = isRec(rule) && isRec(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths : [];
    for (const p of paths) if (isRec(p)) add(p.backend);
  }
  return names;
}

/** Ingresses of the release that send to one of `services` (by name). */
export function ingressesTo(objects: readonly Manifest[], services: ReadonlySet<string>): Manifest[] {
  return objects.filter((o) => o.kind === 'Ingress' && ingressBackends(o).some((n) => services.has(n)));
}

/** Objects pods need before they start (applied before a canary or a new side starts). */
export const SUPPORT_KINDS: ReadonlySet<string> = new Set(['ServiceAccount', 'Secret', 'ConfigMap', 'PersistentVolumeClaim']);
