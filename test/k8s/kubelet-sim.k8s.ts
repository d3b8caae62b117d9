// The kubelet simulator (the fallback where a real kubelet cannot run), checked against the real
// apiserver of cluster a on a tainted node of its own, beside the real node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeletSim } from '../helpers/kubelet-sim.js';
import { testbed } from './testbed-env.js';
import { apply, kubeFor, waitRollout, type Kube } from './kube.js';

const tb = testbed();
const NS = `sim-${Date.now().toString(36)}`;
const TAINT = 'slipway.dev/simulated';
let kube: Kube;
let sim: KubeletSim;

function deployment(name: string, image: string, progressDeadlineSeconds: number) {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: 2,
      progressDeadlineSeconds,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'slipway.dev/kubelet-sim': 'true' },
          tolerations: [{ key: TAINT, operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
          containers: [{ name: 'app', image }],
        },
      },
    },
  };
}

beforeAll(async () => {
  kube = kubeFor(tb.clusters.a.kubeconfigPath);
  sim = new KubeletSim(kube.kc, { nodeName: 'sim-node-a', registry: tb.registry, taintKey: TAINT });
  await sim.start();
  await kube.core.createNamespace({ body: { metadata: { name: NS } } });
});

afterAll(async () => {
  sim.stop();
  await kube.core.deleteNode({ name: 'sim-node-a' });
});

describe('kubelet simulator (fallback)', () => {
  it('registers a Ready node with capacity', async () => {
    const node = await kube.core.readNode({ name: 'sim-node-a' });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.allocatable?.pods).toBe('110');
  });

  it('brings pods of an image in the registry to Running/Ready, so a rollout completes', async () => {
    await apply(kube, deployment('present', `${tb.registry}/slipway/pause:1.20.2`, 20));
    expect(await waitRollout(kube, NS, 'present', 30_000)).toMatchObject({ state: 'done' });
    const pods = await kube.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=present' });
    expect(pods.items.length).toBeGreaterThanOrEqual(2);
    expect(pods.items.every((p) => p.spec?.nodeName === 'sim-node-a' && p.status?.phase === 'Running')).toBe(true);
    expect(sim.started.size).toBeGreaterThanOrEqual(2);
  });

  it('leaves pods of a missing image in ErrImagePull: ProgressDeadlineExceeded', async () => {
    await apply(kube, deployment('missing', `${tb.registry}/slipway-test/nothing:here`, 4));
    expect(await waitRollout(kube, NS, 'missing', 30_000)).toMatchObject({ state: 'failed' });
    const pods = await kube.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=missing' });
    const reasons = pods.items.flatMap((p) => p.status?.containerStatuses ?? []).map((s) => s.state?.waiting?.reason);
    expect(reasons).toContain('ErrImagePull');
  });
});
