// Slipway's own layer push (src/images/layer-push.ts: layers read out of the engine, gzip level 1,
// a Docker v2 manifest of its own) on the test bed: images built on node a's engine, pushed by it to
// the test bed's registry, then run as Pods on both clusters, whose kubelets pull them by digest.
import { Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import Docker from 'dockerode';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/images/classic-builder.js';
import { pushImageLayers } from '../../src/images/layer-push.js';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { BASE_IMAGE, ensureBaseImage } from './image.js';
import { waitFor } from './kube.js';
import { testbed, type ClusterName } from './testbed-env.js';

const tb = testbed();
const NS = `layer-push-${Date.now().toString(36)}`;
const docker = new Docker({ socketPath: tb.dockerHost.replace(/^unix:\/\//, '') });
const image = `${tb.registry}/slipway-test/layer-push-${Date.now().toString(36)}`;
const lib = Array.from({ length: 20_000 }, (_, i) => `line ${i} of the library\n`).join('');
const clusters: Partial<Record<ClusterName, ClusterClient>> = {};
const built = new Set<string>();

async function buildAndPush(tag: string, app: string, knownFrom: string[]): Promise<{ digest: string; uploaded: number }> {
  const p = pack();
  const files = { Dockerfile: `FROM ${BASE_IMAGE}\nCOPY lib.txt /app/lib.txt\nCOPY app.txt /app/app.txt\n`, 'lib.txt': lib, 'app.txt': app };
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0) }, content);
  p.finalize();
  const { imageId } = await buildImage(docker, {
    context: Readable.from(p),
    dockerfile: 'Dockerfile',
    tags: [`${image}:${tag}`],
    labels: {},
    buildArgs: {},
    onLog: () => undefined,
    timeoutMs: 120_000,
  });
  built.add(imageId);
  const r = await pushImageLayers(docker, { image, tags: [tag], knownFrom, onLog: () => undefined, timeoutMs: 120_000 });
  return { digest: r.digest, uploaded: r.uploaded.length };
}

async function runPod(cluster: ClusterName, name: string, ref: string): Promise<{ log: string; pod: V1Pod }> {
  const c = clusters[cluster] as ClusterClient;
  await c.core.createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        nodeName: tb.clusters[cluster].nodeName,
        // The output is the container's termination message (kept in the kubelet's own pod dir), not
        // its log: both test-bed kubelets share /var/log/pods, and one may clean up the other's pod logs.
        containers: [
          {
            name: 'app',
            image: ref,
            imagePullPolicy: 'Always',
            command: ['sh', '-c', '{ cat /app/app.txt; wc -c < /app/lib.txt; } | tee /dev/termination-log'],
          },
        ],
      },
    },
  });
  const pod = await waitFor(`pod ${name} on cluster ${cluster} to finish`, 90_000, async () => {
    const p = await c.core.readNamespacedPod({ name, namespace: NS });
    const waiting = p.status?.containerStatuses?.[0]?.state?.waiting;
    if (waiting?.reason === 'ErrImagePull' || waiting?.reason === 'ImagePullBackOff') throw new Error(`${waiting.reason}: ${waiting.message ?? ''}`);
    return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
  });
  const log = pod.status?.containerStatuses?.[0]?.state?.terminated?.message ?? '';
  return { log, pod };
}

beforeAll(async () => {
  if (tb.kubelet === 'sim') throw new Error('pulling needs real kubelets: this test bed runs the kubelet simulator');
  await ensureBaseImage({ dockerHost: tb.dockerHost, busybox: tb.busybox });
  for (const name of ['a', 'b'] as const) {
    const c = clusterFromKubeconfigFile(name, tb.clusters[name].kubeconfigPath);
    clusters[name] = c;
    await c.core.createNamespace({ body: { metadata: { name: NS } } });
    await waitFor(
      `default service account in ${NS} on ${name}`,
      20_000,
      async () => (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
    );
  }
}, 120_000);

afterAll(async () => {
  for (const c of Object.values(clusters)) await c.core.deleteNamespace({ name: NS }).catch(() => undefined);
  for (const id of built)
    await docker
      .getImage(id)
      .remove({ force: true })
      .catch(() => undefined);
});

describe('kubelets pull images that Slipway pushed itself', { timeout: 300_000 }, () => {
  it('a first image and a one-file change (only its layer uploaded) both run as Pods on both clusters', async () => {
    const v1 = await buildAndPush('v1', 'app v1\n', []);
    const v2 = await buildAndPush('v2', 'app v2\n', ['v1']);
    expect(v2.uploaded).toBe(2); // the changed layer and the config
    // Node a's engine built them: drop its copies, so its kubelet pulls from the registry as node b's does.
    for (const id of built) await docker.getImage(id).remove({ force: true });
    built.clear();
    for (const [cluster, version, digest] of [
      ['a', 'v2', v2.digest],
      ['b', 'v2', v2.digest],
      ['b', 'v1', v1.digest],
    ] as const) {
      const { log, pod } = await runPod(cluster, `${version}-${cluster}`, `${image}@${digest}`);
      expect(pod.status?.phase).toBe('Succeeded');
      expect(log).toContain(`app ${version}`);
      expect(log).toContain(String(lib.length));
      // What the kubelet ran is the digest Slipway recorded.
      expect(pod.status?.containerStatuses?.[0]?.imageID).toContain(digest);
    }
  });
});
