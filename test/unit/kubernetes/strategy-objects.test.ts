import { describe, expect, it } from 'vitest';
import type { Manifest, ReleaseFiles, ReleaseRequest } from '../../../src/deploy/deploy-target.js';
import { createKubernetesTarget } from '../../../src/kubernetes/kubernetes-target.js';
import {
  canaryDeployment,
  canaryIngress,
  canaryReplicas,
  canaryService,
  colorDeployment,
  effectiveWeight,
  ingressesTo,
  previewService,
  serviceSelecting,
  servicesOf,
  withRollingUpdate,
} from '../../../src/kubernetes/strategy-objects.js';

// The pure parts of the Kubernetes strategies: the replica ratio that carries a canary's weight, the
// objects derived for a canary, a traffic router and blue-green, and the rolling pace written by `prepare`.
const labels = { 'app.kubernetes.io/name': 'web' };
const deployment: Manifest = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', labels: { 'slipway.dev/service': 'web' }, annotations: { 'slipway.dev/rollback-to': 'web-123' } },
  spec: {
    replicas: 4,
    selector: { matchLabels: labels },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'reg/web:2' }] } },
  },
};
const service: Manifest = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { selector: labels, clusterIP: '10.0.0.9', ports: [{ port: 80 }] },
};
const other: Manifest = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { selector: { app: 'db' } } };
const ingress: Manifest = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', annotations: { 'kubernetes.io/ingress.class': 'nginx' } },
  spec: {
    rules: [{ host: 'web.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }],
  },
};

describe('canary replica ratio', () => {
  it('gives the canary ceil(total × weight / 100) and stable the rest, so the Service has the total', () => {
    expect(canaryReplicas(4, 25, false)).toEqual({ canary: 1, stable: 3 });
    expect(canaryReplicas(4, 10, false)).toEqual({ canary: 1, stable: 3 });
    expect(canaryReplicas(10, 50, false)).toEqual({ canary: 5, stable: 5 });
    expect(canaryReplicas(10, 33, false)).toEqual({ canary: 4, stable: 6 });
    expect(canaryReplicas(4, 100, false)).toEqual({ canary: 4, stable: 0 });
    expect(canaryReplicas(4, 0, false)).toEqual({ canary: 0, stable: 4 });
    expect(effectiveWeight(canaryReplicas(4, 25, false))).toBe(25);
  });

  it('keeps one stable pod under 100%, so a small total never sends everything to the canary', () => {
    expect(canaryReplicas(1, 10, false)).toEqual({ canary: 1, stable: 1 });
    expect(canaryReplicas(2, 90, false)).toEqual({ canary: 2, stable: 1 });
  });

  it('with a traffic router keeps stable at its total: the router carries the weight', () => {
    expect(canaryReplicas(4, 30, true)).toEqual({ canary: 2, stable: 4 });
  });
});

describe('derived objects', () => {
  it('a canary Deployment: <name>-canary, its pods still picked by the Service and told apart by the track label', () => {
    const c = canaryDeployment(deployment, 1);
    expect(c.metadata.name).toBe('web-canary');
    expect(c.metadata.annotations?.['slipway.dev/rollback-to']).toBeUndefined();
    expect(c.spec).toMatchObject({
      replicas: 1,
      selector: { matchLabels: { ...labels, 'slipway.dev/track': 'canary' } },
      template: { metadata: { labels: { ...labels, 'slipway.dev/track': 'canary' } } },
    });
    expect(servicesOf([service, other], c)).toEqual([service]);
    expect(deployment.metadata.name).toBe('web'); // the input is not changed
  });

  it('the canary Service and Ingress for ingress-nginx: same host and path, the canary annotations, backends renamed', () => {
    const svc = canaryService(service);
    expect(svc.metadata.name).toBe('web-canary');
    expect(svc.spec).toEqual({ selector: { ...labels, 'slipway.dev/track': 'canary' }, ports: [{ port: 80 }] });
    expect(ingressesTo([ingress, service], new Set(['web']))).toEqual([ingress]);
    expect(ingressesTo([ingress], new Set(['db']))).toEqual([]);
    const ing = canaryIngress(ingress, 10, new Map([['web', 'web-canary']]));
    expect(ing.metadata.name).toBe('web-canary');
    expect(ing.metadata.annotations).toEqual({
      'kubernetes.io/ingress.class': 'nginx',
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
    });
    expect(ing.spec).toMatchObject({ rules: [{ host: 'web.example', http: { paths: [{ path: '/', backend: { service: { name: 'web-canary' } } }] } }] });
  });

  it('blue-green: a side per color, the active Service selecting one, the preview Service the other', () => {
    const green = colorDeployment(deployment, 'green');
    expect(green.metadata.name).toBe('web-green');
    expect(green.spec).toMatchObject({ selector: { matchLabels: { ...labels, 'slipway.dev/slot': 'green' } }, replicas: 4 });
    expect(serviceSelecting(service, { 'slipway.dev/slot': 'green' }).spec).toMatchObject({
      selector: { ...labels, 'slipway.dev/slot': 'green' },
      clusterIP: '10.0.0.9',
    });
    const preview = previewService(service, 'blue');
    expect(preview.metadata.name).toBe('web-preview');
    expect(preview.spec).toEqual({ selector: { ...labels, 'slipway.dev/slot': 'blue' }, ports: [{ port: 80 }] });
  });
});

describe('rolling pace', () => {
  it("writes maxSurge/maxUnavailable onto each Deployment's rollingUpdate, keeping what the file does not set", () => {
    const [d, s] = withRollingUpdate([deployment, service], { type: 'rolling', maxSurge: '25%' });
    expect(d?.spec).toMatchObject({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } } });
    expect(s).toBe(service);
    const recreate = { ...deployment, spec: { ...(deployment.spec as object), strategy: { type: 'Recreate' } } };
    expect(withRollingUpdate([recreate], { type: 'rolling', maxUnavailable: 1 })[0]?.spec).toMatchObject({
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
    });
    // Plain rolling: the template's own settings.
    expect(withRollingUpdate([deployment], { type: 'rolling' })[0]).toBe(deployment);
  });

  it('prepare writes it after rendering (built-in templates), and carries blue-green and the traffic router', async () => {
    const target = createKubernetesTarget(new Map());
    const repo: ReleaseFiles = { file: () => Promise.resolve(null), dir: () => Promise.resolve(null) };
    const request = (strategy: ReleaseRequest['strategy']): ReleaseRequest => ({
      template: 'kubernetes',
      base: { service: 'web', environment: 'pre', image: 'reg/web:2', env: {}, port: 8080, healthPath: '/', runId: 'r1' },
      commitSha: 'c'.repeat(40),
      runUrl: 'https://slipway.example/runs/r1',
      clusters: [],
      ...(strategy ? { strategy } : {}),
      trafficRouter: 'nginx-ingress',
      variables: {},
      secrets: {},
      repo,
    });
    const rolled = await target.prepare!(request({ type: 'rolling', maxSurge: '25%', maxUnavailable: 0 }));
    if (!rolled.ok) throw new Error(rolled.reason);
    const d = rolled.spec.kubernetes?.manifests.find((m) => m.kind === 'Deployment');
    expect(d?.spec).toMatchObject({ strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } } });
    expect(rolled.spec.kubernetes?.trafficRouter).toBe('nginx-ingress');
    expect(rolled.spec.kubernetes?.blueGreen).toBeUndefined();
    const bg = await target.prepare!(request({ type: 'blue-green' }));
    if (!bg.ok) throw new Error(bg.reason);
    expect(bg.spec.kubernetes?.blueGreen).toEqual({ scaleDownDelayMs: 30_000 });
  });
});
