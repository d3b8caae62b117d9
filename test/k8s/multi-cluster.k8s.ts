// Slipway's Kubernetes target on both clusters of the test bed (issue 11, "Many clusters"): a release
// goes to the first cluster, and to the others only once it is healthy; each cluster has its own
// verdict; a cluster that cannot be reached (the fault proxy in front of cluster a) is handled by the
// environment's on_cluster_failure policy; the Deployment's replicas are split across the clusters.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { DeployFailedError } from '../../src/deploy/deploy-errors.js';
import type { ClusterFailurePolicy, ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { rollOut } from '../../src/deploy/roll-out.js';
import { clusterFromKubeConfig, clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createKubernetesTarget } from '../../src/kubernetes/kubernetes-target.js';
import { freeCpuMillis } from '../../src/kubernetes/replica-split.js';
import { renderRelease } from '../../src/kubernetes/templates.js';
import { KubeFaultProxy } from '../helpers/kube-fault-proxy.js';
import { KubeletSim } from '../helpers/kubelet-sim.js';
import { buildWebImage } from './image.js';
import { waitFor } from './kube.js';
import { testbed, type ClusterName } from './testbed-env.js';

const tb = testbed();
const NS = `multi-cluster-${Date.now().toString(36)}`;
const SERVICE = 'web';
let a: ClusterClient;
let b: ClusterClient;
/** Cluster a through the fault proxy, with a short request timeout so that a hung apiserver is found out quickly. */
let aProxied: ClusterClient;
let proxy: KubeFaultProxy;
let images: { v1: string; v2: string; bad: string };
let logs: string[] = [];
const onLog = (line: string) => {
  logs.push(line);
};

/** A cluster's kubeconfig with its context's namespace set to this file's namespace. */
function scopedKubeconfig(name: ClusterName): string {
  const kc = parse(readFileSync(tb.clusters[name].kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = NS;
  const file = join(mkdtempSync(join(tmpdir(), 'slipway-multi-cluster-k8s-')), `${name}.kubeconfig`);
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

interface Options {
  clusters: readonly string[];
  weights?: Record<string, number>;
  policy?: ClusterFailurePolicy;
  replicas?: number;
}

/** A release of `image` as the deploy job renders it (built-in templates), for the given clusters and settings. */
async function release(runId: string, image: string, o: Options): Promise<ReleaseSpec> {
  const rendered = await renderRelease(
    'kubernetes',
    {
      identity: {
        service: SERVICE,
        environment: 'production',
        commitSha: runId.padEnd(40, '0').replace(/[^0-9a-f]/g, 'a'),
        runId,
        runUrl: `http://slipway.test/runs/${runId}`,
      },
      image,
      port: 8080,
      healthPath: '/',
      variables: {
        REPLICAS: String(o.replicas ?? 4),
        PROGRESS_DEADLINE_SECONDS: '8',
        TERMINATION_GRACE_SECONDS: '1',
        READINESS_PERIOD_SECONDS: '1',
        CPU_REQUEST: '10m',
        MEMORY_REQUEST: '16Mi',
      },
      secrets: {},
    },
    { file: () => Promise.resolve(null), dir: () => Promise.resolve(null) },
  );
  if (!rendered.ok) throw new Error(JSON.stringify(rendered.problems));
  return {
    service: SERVICE,
    environment: 'production',
    image,
    env: {},
    port: 8080,
    healthPath: '/',
    runId,
    kubernetes: {
      manifests: rendered.manifests.map((m) => m.object),
      clusters: o.clusters,
      ...(o.weights ? { weights: o.weights } : {}),
      ...(o.policy ? { onClusterFailure: o.policy } : {}),
    },
  };
}

async function deploymentOn(c: ClusterClient): Promise<V1Deployment> {
  return c.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
}

/** The run whose pod template a cluster's Deployment carries, and its image. */
async function runningOn(c: ClusterClient): Promise<{ run: string | undefined; image: string | undefined; replicas: number | undefined }> {
  const d = await deploymentOn(c);
  return {
    run: d.spec?.template?.metadata?.annotations?.['slipway.dev/run'],
    image: d.spec?.template?.spec?.containers?.[0]?.image,
    replicas: d.spec?.replicas,
  };
}

const at = (pattern: RegExp) => logs.findIndex((l) => pattern.test(l));

beforeAll(async () => {
  a = clusterFromKubeconfigFile('a', scopedKubeconfig('a'));
  b = clusterFromKubeconfigFile('b', scopedKubeconfig('b'));
  if (tb.kubelet === 'sim') {
    console.warn('\n*** KUBELET SIMULATOR IN USE: no real pods run ***\n');
    for (const [c, n] of [
      [a, tb.clusters.a],
      [b, tb.clusters.b],
    ] as const) {
      await new KubeletSim(c.kc, { nodeName: n.nodeName, registry: tb.registry }).start();
    }
  }
  const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
  const [v1, v2] = await Promise.all([buildWebImage(build, 'multi-cluster-v1', 'multi v1'), buildWebImage(build, 'multi-cluster-v2', 'multi v2')]);
  images = { v1, v2, bad: `${tb.registry}/slipway-test/web:multi-cluster-does-not-exist` };

  const A = tb.clusters.a;
  proxy = await KubeFaultProxy.start({ upstream: A.server, caPath: A.caPath, tlsCertPath: A.tlsCertPath, tlsKeyPath: A.tlsKeyPath });
  const kc = new KubeConfig();
  kc.loadFromFile(A.kubeconfigPath);
  kc.loadFromOptions({
    clusters: [{ name: 'a-proxied', server: proxy.url, caData: kc.getCurrentCluster()?.caData ?? '', skipTLSVerify: false }],
    users: [{ name: 'admin', token: kc.getCurrentUser()?.token ?? '' }],
    contexts: [{ name: 'a-proxied', cluster: 'a-proxied', user: 'admin', namespace: NS }],
    currentContext: 'a-proxied',
  });
  aProxied = clusterFromKubeConfig('a', kc, 3_000);

  for (const c of [a, b]) {
    await c.core.createNamespace({ body: { metadata: { name: NS } } });
    await waitFor(
      `default service account in ${NS} on ${c.name}`,
      20_000,
      async () => (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
    );
  }
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  for (const c of [a, b]) await c?.core.deleteNamespace({ name: NS }).catch(() => undefined);
});

describe('a release on two clusters', () => {
  it('goes to a first and to b only once a is healthy; replicas split by weight; config and service on both unchanged', async () => {
    logs = [];
    const target = createKubernetesTarget(
      new Map([
        ['a', a],
        ['b', b],
      ]),
    );
    const applied = await rollOut(target, await release('run-1', images.v1, { clusters: ['a', 'b'], weights: { a: 3, b: 1 }, replicas: 4 }), {
      timeoutMs: 90_000,
      onLog,
    });
    expect(applied.places).toEqual([
      { name: 'a', state: 'healthy', wave: 1, replicas: 3 },
      { name: 'b', state: 'healthy', wave: 2, replicas: 1 },
    ]);
    // The order of what happened: a applied, a rolled out, and only then b touched.
    const aApplied = at(/^a: applied Deployment /);
    const aReady = at(/^a: deployment "web" successfully rolled out$/);
    const bFirst = at(/^b: /);
    expect(aApplied).toBeGreaterThanOrEqual(0);
    expect(aReady).toBeGreaterThan(aApplied);
    expect(bFirst).toBeGreaterThan(aReady);
    expect(logs).toContain('deployment web: 4 replicas split by weights a=3, b=1: a 3, b 1');
    // The clusters agree: b's Deployment was created after a's rollout had completed.
    const [da, db] = await Promise.all([deploymentOn(a), deploymentOn(b)]);
    const aAvailable = da.status?.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime;
    expect(aAvailable).toBeDefined();
    expect(new Date(db.metadata?.creationTimestamp ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(aAvailable ?? 0).getTime());
    expect(da.spec?.replicas).toBe(3);
    expect(db.spec?.replicas).toBe(1);
    expect(db.status?.readyReplicas).toBe(1);
    const cm = applied.spec.kubernetes?.manifests.find((x) => x.kind === 'ConfigMap')?.metadata.name ?? '';
    const [ca, cb] = await Promise.all([
      a.core.readNamespacedConfigMap({ name: cm, namespace: NS }),
      b.core.readNamespacedConfigMap({ name: cm, namespace: NS }),
    ]);
    expect(cb.data).toEqual(ca.data);
    const [sa, sb] = await Promise.all([
      a.core.readNamespacedService({ name: SERVICE, namespace: NS }),
      b.core.readNamespacedService({ name: SERVICE, namespace: NS }),
    ]);
    expect(sb.spec?.ports).toEqual(sa.spec?.ports);
  });

  it('a bad image on the first wave is rolled back there and leaves the second cluster untouched', async () => {
    logs = [];
    const target = createKubernetesTarget(
      new Map([
        ['a', a],
        ['b', b],
      ]),
    );
    const bBefore = await deploymentOn(b);
    const err = await rollOut(target, await release('run-2', images.bad, { clusters: ['a', 'b'], weights: { a: 3, b: 1 }, replicas: 4 }), {
      timeoutMs: 90_000,
      onLog,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployFailedError);
    const e = err as DeployFailedError;
    expect(e.more.partial).toBe(false);
    expect(e.more.places?.map((p) => [p.name, p.state, p.wave])).toEqual([
      ['a', 'rolled-back', 1],
      ['b', 'not-applied', 2],
    ]);
    expect(e.reason).toContain('a failed (wave 1): a: deployment "web" exceeded its progress deadline');
    expect(e.reason).toContain('b not touched');
    expect(e.lastLogs.join('\n')).toMatch(/ImagePullBackOff|ErrImagePull/);
    expect(logs.filter((l) => l.startsWith('b: '))).toEqual([]);
    const bAfter = await deploymentOn(b);
    expect(bAfter.metadata?.resourceVersion).toBe(bBefore.metadata?.resourceVersion);
    expect(await runningOn(a)).toMatchObject({ run: 'run-1', image: images.v1, replicas: 3 });
  });
});

describe('a cluster that cannot be reached (the fault proxy in front of cluster a, listed second)', () => {
  const proxied = () =>
    createKubernetesTarget(
      new Map([
        ['a', aProxied],
        ['b', b],
      ]),
    );

  it('rollback-all: connection refused on a; b, healthy, goes back to the previous release; the run names a', async () => {
    logs = [];
    await proxy.inject({ fault: { kind: 'unreachable' } });
    try {
      const err = await rollOut(
        proxied(),
        await release('run-3', images.v2, { clusters: ['b', 'a'], weights: { a: 3, b: 1 }, replicas: 4, policy: 'rollback-all' }),
        { timeoutMs: 90_000, onLog },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeployFailedError);
      const e = err as DeployFailedError;
      expect(e.more.partial).toBe(false);
      expect(e.more.places?.map((p) => [p.name, p.state, p.wave])).toEqual([
        ['b', 'rolled-back', 1],
        ['a', 'unreachable', 2],
      ]);
      expect(e.reason).toMatch(/^a unreachable \(wave 2\): a: read deployment .*ECONNREFUSED.* \(3 attempts\)/);
      expect(e.reason).toContain('clusters now: b rolled back to the previous release, a unreachable (nothing was applied) (on_cluster_failure: rollback-all)');
      expect(e.more.places?.find((p) => p.name === 'b')?.reason).toContain('was healthy; rolled back because a failed');
    } finally {
      await proxy.clear();
    }
    // b ran run-3 for a while (healthy), and now runs run-1 again; a never saw run-3.
    expect(at(/^b: deployment "web" successfully rolled out$/)).toBeGreaterThanOrEqual(0);
    expect(await runningOn(b)).toMatchObject({ run: 'run-1', image: images.v1, replicas: 1 });
    expect(await runningOn(a)).toMatchObject({ run: 'run-1', image: images.v1 });
  });

  it('keep-healthy: a hangs (no answer within the request timeout); b keeps the new release and the job fails saying who runs what', async () => {
    logs = [];
    await proxy.inject({ fault: { kind: 'hang' } });
    const t0 = Date.now();
    try {
      const err = await rollOut(
        proxied(),
        await release('run-4', images.v2, { clusters: ['b', 'a'], weights: { a: 3, b: 1 }, replicas: 4, policy: 'keep-healthy' }),
        { timeoutMs: 90_000, onLog },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeployFailedError);
      const e = err as DeployFailedError;
      expect(e.more.partial).toBe(true);
      expect(e.more.places?.map((p) => [p.name, p.state, p.wave, p.replicas])).toEqual([
        ['b', 'healthy', 1, 1],
        ['a', 'unreachable', 2, 3],
      ]);
      expect(e.reason).toMatch(/^a unreachable \(wave 2\): a: read deployment .*no answer within the request timeout \(3 attempts\)/);
      expect(e.reason).toContain('clusters now: b runs run run-4 (new release), a unreachable (nothing was applied) (on_cluster_failure: keep-healthy)');
    } finally {
      await proxy.clear();
    }
    console.log(`hung cluster found out in ${Date.now() - t0} ms (wave 1 included)`);
    expect(await runningOn(b)).toMatchObject({ run: 'run-4', image: images.v2, replicas: 1 });
    expect(await runningOn(a)).toMatchObject({ run: 'run-1', image: images.v1 });
  });
});

describe('replicas split by free capacity', () => {
  it('gives the cluster with more free CPU more replicas, each at least 1, adding up to the total', async () => {
    logs = [];
    // Take most of b's free CPU with a pod of our own, leaving room for the release's pods (10m each).
    const [nodes, pods] = await Promise.all([b.core.listNode(), b.core.listPodForAllNamespaces()]);
    const freeB = freeCpuMillis(nodes.items, pods.items);
    const hog = Math.max(0, freeB - 150);
    if (hog > 0) {
      await b.core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: 'cpu-hog' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'hog', image: images.v1, resources: { requests: { cpu: `${hog}m`, memory: '16Mi' } } }],
          },
        },
      });
      await waitFor('cpu-hog bound to b', 20_000, async () => (await b.core.readNamespacedPod({ name: 'cpu-hog', namespace: NS })).spec?.nodeName);
    }
    const target = createKubernetesTarget(
      new Map([
        ['a', a],
        ['b', b],
      ]),
    );
    const applied = await rollOut(target, await release('run-5', images.v1, { clusters: ['a', 'b'], replicas: 5 }), { timeoutMs: 90_000, onLog });
    const line = logs.find((l) => l.startsWith('deployment web: 5 replicas split by free CPU'));
    expect(line, logs.join('\n')).toBeDefined();
    const shares = applied.places?.map((p) => p.replicas) ?? [];
    const [ra = 0, rb = 0] = shares;
    expect(ra + rb).toBe(5);
    expect(rb).toBeGreaterThanOrEqual(1);
    expect(ra).toBeGreaterThan(rb);
    expect(line).toMatch(new RegExp(`: a ${ra}, b ${rb}$`));
    expect((await runningOn(a)).replicas).toBe(ra);
    expect((await runningOn(b)).replicas).toBe(rb);
    console.log(line);
  });
});
