import type { Manifest, ReleaseSpec } from '../deploy/deploy-target.js';

/**
 * Pure: the recorded spec as a rollback applies it. Everything is as recorded (pod templates, image
 * digests, ConfigMaps, Services) except each rolling Deployment's `maxSurge`, set to 100%: all pods
 * of the release come up at once next to the live ones (which keep serving: `maxUnavailable` is
 * left as recorded), as on a first rollout, instead of one surge step at a time. The pod template
 * is untouched, so Kubernetes goes back to the release's own ReplicaSet. The next deploy applies its
 * own strategy again (server-side apply: the field has the same manager).
 */
export function fastRollbackSpec(spec: ReleaseSpec): ReleaseSpec {
  if (!spec.kubernetes) return spec;
  const manifests = spec.kubernetes.manifests.map((m): Manifest => {
    if (m.apiVersion !== 'apps/v1' || m.kind !== 'Deployment') return m;
    const s = (m['spec'] ?? {}) as { strategy?: { type?: string; rollingUpdate?: Record<string, unknown> } };
    if (s.strategy?.type !== undefined && s.strategy.type !== 'RollingUpdate') return m;
    const strategy = { ...s.strategy, type: 'RollingUpdate', rollingUpdate: { ...s.strategy?.rollingUpdate, maxSurge: '100%' } };
    return { ...m, spec: { ...s, strategy } };
  });
  return { ...spec, kubernetes: { ...spec.kubernetes, manifests } };
}
