// Smoke suite against the real test bed (.ci/k8s-testbed.sh test): server-side apply of a ConfigMap,
// a Service and a Deployment of an image built and pushed here; rollouts judged by kubectl's rules and
// cross-checked with Debian's kubectl 1.20; pods answer HTTP on their pod IPs.
import { beforeAll, describe, expect, it } from 'vitest';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { testbed } from './testbed-env.js';
import { buildWebImage, HTTP_PORT } from './image.js';
import { apply, kubeFor, kubectl, replicaSetsOf, revision, waitFor, waitRollout, type Kube } from './kube.js';
import { renderWebApp, type WebApp } from './manifests.js';
import { KubeletSim } from '../helpers/kubelet-sim.js';

const tb = testbed();
const a = kubeFor(tb.clusters.a.kubeconfigPath);
const b = kubeFor(tb.clusters.b.kubeconfigPath);
const NS = `smoke-${Date.now().toString(36)}`;
const ROLLOUT_TIMEOUT = 40_000;
let images: { v1: string; v2: string; bad: string };

async function applyApp(kube: Kube, app: WebApp): Promise<V1Deployment> {
  const { configMap, service, deployment } = renderWebApp(app);
  await apply(kube, configMap);
  await apply(kube, service);
  return apply(kube, deployment);
}

/** Ready pods of the Deployment's current ReplicaSet (named by its pod-template-hash). */
async function servingPods(kube: Kube, name: string, rsName: string): Promise<V1Pod[]> {
  const pods = await kube.core.listNamespacedPod({ namespace: NS, labelSelector: `app=${name}` });
  return pods.items.filter(
    (p) =>
      p.metadata?.ownerReferences?.some((o) => o.name === rsName) &&
      !p.metadata?.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
}

async function httpGet(ip: string, path: string): Promise<string> {
  const res = await fetch(`http://${ip}:${HTTP_PORT}${path}`, { signal: AbortSignal.timeout(5_000) });
  expect(res.status).toBe(200);
  return (await res.text()).trim();
}

/** Every pod of the current ReplicaSet answers on its pod IP with the expected page and config. */
async function expectServing(kube: Kube, name: string, rsName: string, page: string, greeting: string): Promise<V1Pod[]> {
  const pods = await waitFor(`2 ready pods of ${rsName}`, 20_000, async () => {
    const ps = await servingPods(kube, name, rsName);
    return ps.length === 2 ? ps : undefined;
  });
  for (const p of pods) {
    const ip = p.status?.podIP;
    expect(ip, `pod ${p.metadata?.name} has an IP`).toBeTruthy();
    if (tb.kubelet === 'sim') continue; // announced loudly in beforeAll: there is no process behind a sim pod
    expect(await httpGet(ip!, '/')).toBe(page);
    expect(await httpGet(ip!, '/config/greeting')).toBe(greeting);
  }
  return pods;
}

async function currentRs(kube: Kube, name: string) {
  const d = await kube.apps.readNamespacedDeployment({ name, namespace: NS });
  const rss = await replicaSetsOf(kube, d);
  const top = rss[rss.length - 1];
  if (!top?.metadata?.name) throw new Error(`no ReplicaSet for ${name}`);
  return { d, rs: top, all: rss };
}

async function kubectlRollout(cluster: 'a' | 'b', name: string) {
  return kubectl(tb.kubectl, tb.clusters[cluster].kubeconfigPath, ['-n', NS, 'rollout', 'status', `deployment/${name}`, '--timeout=30s']);
}

beforeAll(async () => {
  if (tb.kubelet === 'sim') {
    console.warn('\n*** KUBELET SIMULATOR IN USE: no real pods run; HTTP checks on pod IPs are NOT done ***\n');
    for (const [kube, node] of [
      [a, tb.clusters.a.nodeName],
      [b, tb.clusters.b.nodeName],
    ] as const) {
      const sim = new KubeletSim(kube.kc, { nodeName: node, registry: tb.registry });
      await sim.start();
    }
  }
  const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
  const [v1, v2] = await Promise.all([buildWebImage(build, 'v1', 'web v1'), buildWebImage(build, 'v2', 'web v2')]);
  images = { v1, v2, bad: `${tb.registry}/slipway-test/web:does-not-exist` };
  for (const kube of [a, b]) {
    await kube.core.createNamespace({ body: { metadata: { name: NS } } });
    await waitFor(
      `default service account in ${NS}`,
      20_000,
      async () => (await kube.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
    );
  }
}, 120_000);

describe('real cluster a: deploy, config rollout, failed rollout, undo', () => {
  const app: WebApp = { namespace: NS, name: 'web', image: '', greeting: 'hello' };
  let firstRs = '';
  let configRs = '';

  it('rolls out a server-side applied Deployment whose pods answer HTTP on their pod IPs', async () => {
    const t0 = Date.now();
    await applyApp(a, { ...app, image: images.v1 });
    const verdict = await waitRollout(a, NS, 'web', ROLLOUT_TIMEOUT);
    console.log(`rollout web v1: ${verdict.state} in ${Date.now() - t0} ms`);
    expect(verdict).toMatchObject({ state: 'done' });
    const { rs, all } = await currentRs(a, 'web');
    expect(all).toHaveLength(1);
    firstRs = rs.metadata!.name!;
    const pods = await expectServing(a, 'web', firstRs, 'web v1', 'hello');
    expect(pods.every((p) => p.spec?.nodeName === tb.clusters.a.nodeName)).toBe(true);
    // Pods sit on the node's bridge inside the test bed's namespace (10.213.0.0/24 for cluster a).
    if (tb.kubelet === 'real') expect(pods.every((p) => p.status?.podIP?.startsWith('10.213.0.'))).toBe(true);
    const k = await kubectlRollout('a', 'web');
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout).toContain('successfully rolled out');
    if (tb.kubelet === 'real') {
      // The kubelet pulled the image from the registry, as a production node pulls from Harbor.
      const events = await a.core.listNamespacedEvent({ namespace: NS });
      expect(events.items.some((e) => e.reason === 'Pulling' && e.message?.includes(images.v1))).toBe(true);
    }
  });

  it('rolls out again when only the config (its hash in the pod template) changes', async () => {
    const t0 = Date.now();
    await applyApp(a, { ...app, image: images.v1, greeting: 'bonjour' });
    const verdict = await waitRollout(a, NS, 'web', ROLLOUT_TIMEOUT);
    console.log(`rollout config change: ${verdict.state} in ${Date.now() - t0} ms`);
    expect(verdict).toMatchObject({ state: 'done' });
    const { rs, all } = await currentRs(a, 'web');
    configRs = rs.metadata!.name!;
    expect(configRs).not.toBe(firstRs);
    expect(all.map(revision)).toEqual([1, 2]);
    await expectServing(a, 'web', configRs, 'web v1', 'bonjour');
    expect((await kubectlRollout('a', 'web')).code).toBe(0);
  });

  it('reports ProgressDeadlineExceeded for an image tag that does not exist, and old pods keep serving', async () => {
    const t0 = Date.now();
    await applyApp(a, { ...app, image: images.bad, greeting: 'bonjour', progressDeadlineSeconds: 6 });
    const verdict = await waitRollout(a, NS, 'web', ROLLOUT_TIMEOUT);
    const took = Date.now() - t0;
    console.log(`bad image: ${verdict.state} after ${took} ms`);
    expect(verdict).toMatchObject({ state: 'failed' });
    expect(took).toBeLessThan(6_000 + 20_000); // the deadline, plus the controller's resync slack
    const d = await a.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    const cond = d.status?.conditions?.find((c) => c.type === 'Progressing');
    expect(cond?.reason).toBe('ProgressDeadlineExceeded');
    // maxUnavailable 0: the previous ReplicaSet still serves.
    await expectServing(a, 'web', configRs, 'web v1', 'bonjour');
    const k = await kubectlRollout('a', 'web');
    expect(k.code).not.toBe(0);
    expect(k.stderr).toContain('exceeded its progress deadline');
  });

  it('undo brings the previous ReplicaSet back (renumbered), and it serves again', async () => {
    const d = await a.apps.readNamespacedDeployment({ name: 'web', namespace: NS });
    const rss = await replicaSetsOf(a, d);
    const current = rss[rss.length - 1]!;
    const previous = rss[rss.length - 2]!;
    expect(previous.metadata?.name).toBe(configRs);
    // kubectl's undo: the previous ReplicaSet's template, without its pod-template-hash label.
    const template = structuredClone(previous.spec!.template!);
    delete template.metadata!.labels!['pod-template-hash'];
    await a.apps.patchNamespacedDeployment({
      name: 'web',
      namespace: NS,
      body: [
        { op: 'replace', path: '/spec/template', value: template },
        { op: 'replace', path: '/spec/progressDeadlineSeconds', value: 20 },
      ],
    });
    const t0 = Date.now();
    const verdict = await waitRollout(a, NS, 'web', ROLLOUT_TIMEOUT);
    console.log(`undo: ${verdict.state} in ${Date.now() - t0} ms`);
    expect(verdict).toMatchObject({ state: 'done' });
    const after = await currentRs(a, 'web');
    expect(after.rs.metadata?.name).toBe(configRs);
    expect(revision(after.rs)).toBe(revision(current) + 1);
    await expectServing(a, 'web', configRs, 'web v1', 'bonjour');
    const k = await kubectlRollout('a', 'web');
    expect(k.code, k.stderr).toBe(0);
    const hist = await kubectl(tb.kubectl, tb.clusters.a.kubeconfigPath, ['-n', NS, 'rollout', 'history', 'deployment/web']);
    expect(hist.code).toBe(0);
    expect(
      hist.stdout
        .trim()
        .split('\n')
        .slice(-3)
        .map((l) => l.trim().split(/\s+/)[0]),
    ).toEqual(['1', '3', '4']);
  });
});

describe('real cluster b, independent of a', () => {
  it('runs its own Deployment on its own node, and does not see or accept cluster a', async () => {
    await applyApp(b, { namespace: NS, name: 'web', image: images.v2, greeting: 'hallo' });
    const verdict = await waitRollout(b, NS, 'web', ROLLOUT_TIMEOUT);
    expect(verdict).toMatchObject({ state: 'done' });
    const { rs, all } = await currentRs(b, 'web');
    expect(all).toHaveLength(1); // a's three revisions live under a different etcd prefix
    const pods = await expectServing(b, 'web', rs.metadata!.name!, 'web v2', 'hallo');
    expect(pods.every((p) => p.spec?.nodeName === tb.clusters.b.nodeName)).toBe(true);
    if (tb.kubelet === 'real') expect(pods.every((p) => p.status?.podIP?.startsWith('10.214.0.'))).toBe(true);
    const nodesB = (await b.core.listNode()).items.map((n) => n.metadata?.name);
    expect(nodesB).toEqual([tb.clusters.b.nodeName]);
    // Cluster a is untouched: still its undo'd revision, still web v1.
    const ra = await currentRs(a, 'web');
    expect(revision(ra.rs)).toBe(4);
    const k = await kubectlRollout('b', 'web');
    expect(k.code, k.stderr).toBe(0);
    // Its own token: a's credentials are refused by b.
    const aToken = a.kc.getCurrentUser()?.token;
    const res = await kubectl(tb.kubectl, tb.clusters.b.kubeconfigPath, ['--token', aToken ?? 'x', 'get', 'ns']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/Unauthorized|certificate/);
  });
});
