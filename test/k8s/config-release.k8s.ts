// Issue 11 "config-only release" on the real test bed: a config change re-renders the same image
// (by digest) with a new hash-named ConfigMap, so the pods roll and run with the new value; after each
// healthy verdict Slipway prunes its old ConfigMaps that no ReplicaSet the controller keeps
// (revisionHistoryLimit) references, and leaves everything else alone.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { builtinDeployTemplateDir } from '../../src/config/paths.js';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { rollOut } from '../../src/deploy/roll-out.js';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createKubernetesTarget } from '../../src/kubernetes/kubernetes-target.js';
import { configMapName, renderRelease } from '../../src/kubernetes/templates.js';
import { KubeletSim } from '../helpers/kubelet-sim.js';
import { buildWebImage } from './image.js';
import { kubectl, replicaSetsOf, waitFor } from './kube.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
const NS = `config-release-${Date.now().toString(36)}`;
const SERVICE = 'cfg';
/** The pipeline file's `variables:` of the environment: template settings and the base config. */
const FILE_VARIABLES = {
  REPLICAS: '2',
  PROGRESS_DEADLINE_SECONDS: '20',
  TERMINATION_GRACE_SECONDS: '1',
  READINESS_PERIOD_SECONDS: '1',
  CPU_REQUEST: '10m',
  MEMORY_REQUEST: '16Mi',
  GREETING: 'from the file',
};
let a: ClusterClient;
let target: ReturnType<typeof createKubernetesTarget>;
let image = '';
let templates: { name: string; text: string }[] = [];
const logs: string[] = [];
const onLog = (line: string) => void logs.push(line);

/** The built-in templates as the repository's deploy/ directory, keeping one old ReplicaSet only. */
async function repoTemplates(): Promise<{ name: string; text: string }[]> {
  const dir = builtinDeployTemplateDir('kubernetes');
  return Promise.all(
    ['configmap.yml', 'deployment.yml', 'service.yml'].map(async (n) => ({
      name: `deploy/${n}`,
      text: (await readFile(join(dir, n), 'utf8')).replace('revisionHistoryLimit: 10', 'revisionHistoryLimit: 1'),
    })),
  );
}

/** A release as the deploy job renders it: the file's variables with the API's config over them. */
async function release(runId: string, config: Record<string, string>): Promise<ReleaseSpec> {
  const rendered = await renderRelease(
    'deploy/',
    {
      identity: { service: SERVICE, environment: 'pre', commitSha: 'c'.repeat(40), runId, runUrl: `http://slipway.test/runs/${runId}` },
      image,
      port: 8080,
      healthPath: '/',
      variables: { ...FILE_VARIABLES, ...config },
      secrets: {},
    },
    { file: () => Promise.resolve(null), dir: (p) => Promise.resolve(p === 'deploy/' ? templates : null) },
  );
  if (!rendered.ok) throw new Error(JSON.stringify(rendered.problems));
  return {
    service: SERVICE,
    environment: 'pre',
    image,
    env: {},
    port: 8080,
    healthPath: '/',
    runId,
    kubernetes: { manifests: rendered.manifests.map((m) => m.object), clusters: ['a'] },
  };
}

const cmName = (config: Record<string, string>) => configMapName(SERVICE, { ...FILE_VARIABLES, ...config });

async function livePods(): Promise<V1Pod[]> {
  const pods = await a.core.listNamespacedPod({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE}` });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

async function slipwayConfigMaps(): Promise<string[]> {
  const list = await a.core.listNamespacedConfigMap({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE},app.kubernetes.io/managed-by=slipway` });
  return list.items.map((m) => m.metadata?.name ?? '').sort();
}

/** What GREETING a running pod sees: its environment on a real kubelet, else its ConfigMap's data. */
async function greetingIn(pod: V1Pod): Promise<string> {
  if (tb.kubelet === 'real') {
    const r = await kubectl(tb.kubectl, tb.clusters.a.kubeconfigPath, [
      'exec',
      '-n',
      NS,
      pod.metadata?.name ?? '',
      '--',
      '/bin/busybox',
      'cat',
      '/proc/1/environ',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // The environment httpd (PID 1) was started with: NUL-separated NAME=value.
    const line = r.stdout.split('\0').find((e) => e.startsWith('GREETING='));
    return line?.slice('GREETING='.length) ?? '';
  }
  const name = pod.spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name ?? '';
  return (await a.core.readNamespacedConfigMap({ name, namespace: NS })).data?.['GREETING'] ?? '';
}

beforeAll(async () => {
  if (tb.kubelet === 'sim') {
    console.warn('\n*** KUBELET SIMULATOR IN USE: no real pods run (config read from the ConfigMap, not the pod) ***\n');
    await new KubeletSim(clusterFromKubeconfigFile('a', tb.clusters.a.kubeconfigPath).kc, { nodeName: tb.clusters.a.nodeName, registry: tb.registry }).start();
  }
  const tagged = await buildWebImage({ dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox }, 'config-release', 'config release');
  // Deployed by digest, as Slipway deploys every image.
  const res = await fetch(`http://${tb.registry}/v2/slipway-test/web/manifests/config-release`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    signal: AbortSignal.timeout(10_000),
  });
  const digest = res.headers.get('docker-content-digest') ?? '';
  expect(digest, tagged).toMatch(/^sha256:[0-9a-f]{64}$/);
  image = `${tb.registry}/slipway-test/web@${digest}`;
  templates = await repoTemplates();
  a = clusterFromKubeconfigFile('a', tb.clusters.a.kubeconfigPath);
  target = createKubernetesTarget(new Map([['a', { ...a, namespace: NS }]]));
  await a.core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor(
    `default service account in ${NS}`,
    20_000,
    async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
  );
}, 120_000);

afterAll(async () => {
  await a?.core.deleteNamespace({ name: NS }).catch(() => undefined);
});

describe('a config release on a real cluster', () => {
  it('a config change rolls the pods onto a new ConfigMap: new value, same image digest', async () => {
    await rollOut(target, await release('run-1', {}), { timeoutMs: 60_000, onLog });
    const before = await livePods();
    expect(before).toHaveLength(2);
    for (const p of before) expect(await greetingIn(p)).toBe('from the file');

    // The API's config over the file's variables: the config release of revision 1.
    await rollOut(target, await release('config-1', { GREETING: 'from the API', FEATURE: 'on' }), { timeoutMs: 60_000, onLog });
    const after = await waitFor('the old pods to go', 30_000, async () => {
      const pods = await livePods();
      return pods.length === 2 && pods.every((p) => !before.some((b) => b.metadata?.name === p.metadata?.name)) ? pods : undefined;
    });
    for (const p of after) {
      expect(await greetingIn(p)).toBe('from the API');
      expect(p.spec?.containers[0]?.image).toBe(image);
      expect(p.spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name).toBe(cmName({ GREETING: 'from the API', FEATURE: 'on' }));
      if (tb.kubelet === 'real') expect(p.status?.containerStatuses?.[0]?.imageID).toContain(image.slice(image.indexOf('@') + 1));
    }
  });

  it('pruning keeps the ConfigMaps kept ReplicaSets reference (rollback finds its config), deletes the rest, touches nothing else', async () => {
    // Not Slipway's (no labels), and Slipway's for another environment: both must stay.
    await a.core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `${SERVICE}-config-handmade` }, data: { A: 'b' } } });
    await a.core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: {
          name: `${SERVICE}-config-other-env`,
          labels: { 'slipway.dev/service': SERVICE, 'slipway.dev/environment': 'production', 'app.kubernetes.io/managed-by': 'slipway' },
        },
      },
    });
    const configs = [{ GREETING: 'v3' }, { GREETING: 'v4' }];
    for (const [i, config] of configs.entries()) await rollOut(target, await release(`config-${i + 2}`, config), { timeoutMs: 60_000, onLog });

    // revisionHistoryLimit 1: the live ReplicaSet and one old one are kept, so exactly their two ConfigMaps.
    expect(await slipwayConfigMaps()).toEqual([cmName({ GREETING: 'v3' }), cmName({ GREETING: 'v4' }), `${SERVICE}-config-other-env`].sort());
    expect(logs.filter((l) => l.includes('deleted ConfigMap'))).toEqual(
      expect.arrayContaining([
        `a: deleted ConfigMap ${NS}/${cmName({})}: no ReplicaSet kept for rollback references it`,
        `a: deleted ConfigMap ${NS}/${cmName({ GREETING: 'from the API', FEATURE: 'on' })}: no ReplicaSet kept for rollback references it`,
      ]),
    );
    await a.core.readNamespacedConfigMap({ name: `${SERVICE}-config-handmade`, namespace: NS });
    // Every ReplicaSet the controller keeps still finds its ConfigMap.
    const d = await a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
    const kept = await waitFor('the controller to trim old ReplicaSets to the history limit', 30_000, async () => {
      const rs = await replicaSetsOf(a, d);
      return rs.length === 2 ? rs : undefined;
    });
    const maps = await slipwayConfigMaps();
    for (const rs of kept) expect(maps).toContain(rs.spec?.template?.spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name);
  });
});
