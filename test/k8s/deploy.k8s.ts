// Slipway's Kubernetes deploy target (src/kubernetes/) on the real test bed: the built-in
// templates rendered for a service, server-side applied, judged by kubectl's rollout rules from a
// watch, rolled back by itself; each verdict cross-checked with Debian's kubectl 1.20.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PatchStrategy, type V1Pod } from '@kubernetes/client-node';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { DeployFailedError } from '../../src/deploy/deploy-errors.js';
import { rollOut } from '../../src/deploy/roll-out.js';
import { ApplyConflictError, clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createKubernetesTarget, ROLLBACK_TO } from '../../src/kubernetes/kubernetes-target.js';
import { renderRelease } from '../../src/kubernetes/templates.js';
import { KubeletSim } from '../helpers/kubelet-sim.js';
import { buildWebImage } from './image.js';
import { kubectl, replicaSetsOf, waitFor } from './kube.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
const NS = `deploy-${Date.now().toString(36)}`;
const SERVICE = 'web';
const HOSTILE = { GREETING: 'a\nkind: Secret', BRACES: '{{', DASHES: '---' };
let kubeconfig = '';
let a: ClusterClient;
let target: ReturnType<typeof createKubernetesTarget>;
let images: { v1: string; v2: string; bad: string };
const logs: string[] = [];
const onLog = (line: string) => {
  logs.push(line);
};

/** Cluster a's kubeconfig with its context's namespace set to this file's namespace, as an operator would scope the deploy credentials. */
function scopedKubeconfig(): string {
  const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = NS;
  const file = join(mkdtempSync(join(tmpdir(), 'slipway-deploy-k8s-')), 'a.kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

/** A release of `image` as the deploy job renders it: the built-in templates, the environment's variables. */
async function release(runId: string, image: string, extra: Record<string, string> = {}): Promise<ReleaseSpec> {
  const rendered = await renderRelease(
    'kubernetes',
    {
      identity: {
        service: SERVICE,
        environment: 'pre',
        commitSha: runId.padEnd(40, '0').replace(/[^0-9a-f]/g, 'a'),
        runId,
        runUrl: `http://slipway.test/runs/${runId}`,
      },
      image,
      port: 8080,
      healthPath: '/',
      variables: {
        REPLICAS: '2',
        PROGRESS_DEADLINE_SECONDS: '8',
        TERMINATION_GRACE_SECONDS: '1',
        READINESS_PERIOD_SECONDS: '1',
        CPU_REQUEST: '10m',
        MEMORY_REQUEST: '16Mi',
        ...HOSTILE,
        ...extra,
      },
      secrets: {},
    },
    { file: () => Promise.resolve(null), dir: () => Promise.resolve(null) },
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

async function readyPods(): Promise<V1Pod[]> {
  const pods = await a.core.listNamespacedPod({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE}` });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

async function kubectlRollout() {
  return kubectl(tb.kubectl, kubeconfig, ['rollout', 'status', `deployment/${SERVICE}`, '--timeout=5s']);
}

beforeAll(async () => {
  if (tb.kubelet === 'sim') {
    console.warn('\n*** KUBELET SIMULATOR IN USE: no real pods run ***\n');
    await new KubeletSim(clusterFromKubeconfigFile('a', tb.clusters.a.kubeconfigPath).kc, { nodeName: tb.clusters.a.nodeName, registry: tb.registry }).start();
  }
  const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
  const [v1, v2] = await Promise.all([buildWebImage(build, 'deploy-v1', 'deploy v1'), buildWebImage(build, 'deploy-v2', 'deploy v2')]);
  images = { v1, v2, bad: `${tb.registry}/slipway-test/web:deploy-does-not-exist` };
  kubeconfig = scopedKubeconfig();
  a = clusterFromKubeconfigFile('a', kubeconfig);
  expect(a.namespace).toBe(NS);
  target = createKubernetesTarget(new Map([['a', a]]));
  await a.core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor(
    `default service account in ${NS}`,
    20_000,
    async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
  );
}, 120_000);

describe('Slipway deploys to a real cluster', () => {
  let goodRs = '';

  it('a good release reaches Ready, as kubectl rollout status agrees, and describe() names it', async () => {
    const t0 = Date.now();
    const applied = await rollOut(target, await release('run-1', images.v1), { timeoutMs: 60_000, onLog });
    console.log(`good release: Ready in ${Date.now() - t0} ms`);
    expect(applied.alreadyLive).toBe(false);
    expect(applied.url).toBe(`http://${SERVICE}.${NS}.svc/`);
    expect(logs).toContain(`a: deployment "${SERVICE}" successfully rolled out`);
    const k = await kubectlRollout();
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout.trim()).toBe(`deployment "${SERVICE}" successfully rolled out`);
    expect(await readyPods()).toHaveLength(2);
    const d = await a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
    expect(d.metadata?.labels).toMatchObject({ 'slipway.dev/service': SERVICE, 'slipway.dev/environment': 'pre', 'slipway.dev/run': 'run-1' });
    expect(d.metadata?.annotations?.['slipway.dev/run-url']).toBe('http://slipway.test/runs/run-1');
    // The only manager of the applied fields is `slipway`, by server-side apply.
    expect(d.metadata?.managedFields?.filter((f) => f.operation === 'Apply').map((f) => f.manager)).toEqual(['slipway']);
    goodRs = (await replicaSetsOf(a, d)).at(-1)?.metadata?.name ?? '';
    expect(await target.describe(SERVICE, 'pre')).toMatchObject({ runId: 'run-1', image: images.v1 });
    // Applying the live run again starts nothing.
    expect((await target.apply(await release('run-1', images.v1), onLog)).alreadyLive).toBe(true);
  });

  it('renders hostile values as one string each: no extra key, object or document reaches the cluster', async () => {
    const cms = await a.core.listNamespacedConfigMap({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE}` });
    expect(cms.items).toHaveLength(1);
    expect(cms.items[0]?.data).toMatchObject(HOSTILE);
    const secrets = await a.core.listNamespacedSecret({ namespace: NS });
    expect(secrets.items.filter((s) => s.type !== 'kubernetes.io/service-account-token')).toEqual([]);
  });

  it('a bad image fails by kubectl rollout status rules with the pod reason, and rolls back; the old pods kept serving', async () => {
    const before = (await readyPods()).map((p) => p.metadata?.uid).sort();
    expect(before).toHaveLength(2);
    const spec = await release('run-2', images.bad);
    const applied = await target.apply(spec, onLog);
    const d0 = await a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
    expect(d0.metadata?.annotations?.[ROLLBACK_TO]).toBe(goodRs);
    const t0 = Date.now();
    const verdict = await target.waitForVerdict(applied, { timeoutMs: 60_000, onLog });
    console.log(`bad image: verdict after ${Date.now() - t0} ms`);
    expect(verdict.healthy).toBe(false);
    if (verdict.healthy) return;
    expect(verdict.reason).toContain(`deployment "${SERVICE}" exceeded its progress deadline`);
    expect(verdict.reason).toMatch(/ImagePullBackOff|ErrImagePull/);
    // Debian's kubectl sees the same failed rollout on the same objects.
    const k = await kubectlRollout();
    expect(k.code).not.toBe(0);
    expect(k.stderr).toContain(`deployment "${SERVICE}" exceeded its progress deadline`);
    // maxUnavailable 0: the old pods never stopped being ready.
    expect((await readyPods()).map((p) => p.metadata?.uid).sort()).toEqual(expect.arrayContaining(before));

    const t1 = Date.now();
    await target.rollBack(applied, onLog);
    console.log(`rollback: Ready in ${Date.now() - t1} ms`);
    expect(logs.some((l) => l.includes(`back to ReplicaSet ${goodRs} (run run-1)`))).toBe(true);
    const d = await a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
    expect(d.spec?.template?.spec?.containers?.[0]?.image).toBe(images.v1);
    expect((await replicaSetsOf(a, d)).at(-1)?.metadata?.name).toBe(goodRs);
    expect((await readyPods()).map((p) => p.metadata?.uid).sort()).toEqual(before);
    const k2 = await kubectlRollout();
    expect(k2.code, k2.stderr).toBe(0);
    expect(await target.describe(SERVICE, 'pre')).toMatchObject({ runId: 'run-1', image: images.v1 });
    // Idempotent: a second rollback finds nothing left to undo.
    await target.rollBack(applied, onLog);
    expect((await a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS })).metadata?.generation).toBe(d.metadata?.generation);
  });

  it('rollOut rolls a bad release back by itself and fails with the reason', async () => {
    const before = (await readyPods()).map((p) => p.metadata?.uid).sort();
    const err = await rollOut(target, await release('run-3', images.bad), { timeoutMs: 60_000, onLog }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployFailedError);
    expect((err as Error).message).toContain('exceeded its progress deadline');
    expect((await readyPods()).map((p) => p.metadata?.uid).sort()).toEqual(before);
    expect((await kubectlRollout()).code).toBe(0);
    expect(await target.describe(SERVICE, 'pre')).toMatchObject({ runId: 'run-1' });
  });

  it('reports a conflict with another field manager by field and manager, and does not force it', async () => {
    const spec = await release('run-4', images.v2);
    const cm = spec.kubernetes!.manifests.find((m) => m.kind === 'ConfigMap')!;
    // Another team's tool takes the field over (forced, as `kubectl apply --server-side --force-conflicts` would).
    await a.objects.patch(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: cm.metadata.name, namespace: NS }, data: { GREETING: 'theirs' } },
      undefined,
      undefined,
      'team-b',
      true,
      PatchStrategy.ServerSideApply,
    );
    const err = await target.apply(spec, onLog).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyConflictError);
    expect((err as ApplyConflictError).conflicts).toContainEqual({ field: '.data.GREETING', manager: 'team-b' });
    expect((err as Error).message).toContain('.data.GREETING is managed by "team-b"');
    const live = await a.core.readNamespacedConfigMap({ name: cm.metadata.name, namespace: NS });
    expect(live.data?.GREETING).toBe('theirs');
    // Nothing after the conflicting object was applied: the Deployment still runs run-1.
    expect(await target.describe(SERVICE, 'pre')).toMatchObject({ runId: 'run-1', image: images.v1 });
  });
});
