// Services route to ready pods (kube-proxy on every node of the test bed): requests to a ClusterIP from
// inside the namespace reach the ready pods behind it, leave a pod that turns unready, and follow a
// selector switch. A blue-green switch or a canary split is only real if traffic follows the Service.
import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { testbed } from './testbed-env.js';
import { buildWebImage, HTTP_PORT } from './image.js';
import { apply, kubeFor, kubectl, waitFor, waitRollout, type Kube } from './kube.js';

const tb = testbed();
const a = kubeFor(tb.clusters.a.kubeconfigPath);
const b = kubeFor(tb.clusters.b.kubeconfigPath);
const NS = `svc-${Date.now().toString(36)}`;
/** Consecutive answers that must all come from the expected pods before a change counts as done. */
const RUN = 30;

function deployment(track: string, image: string): V1Deployment {
  const labels = { app: 'echo', track };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `echo-${track}`, namespace: NS, labels },
    spec: {
      replicas: 2,
      progressDeadlineSeconds: 20,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'web',
              image,
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
              // Ready while /www/index.html exists: a test takes one pod out by moving that file away.
              readinessProbe: { httpGet: { path: '/', port: HTTP_PORT }, periodSeconds: 1, failureThreshold: 1 },
              // Each pod answers /pod/name with its own name, so the test sees which pod served a request.
              volumeMounts: [{ name: 'pod', mountPath: '/www/pod', readOnly: true }],
            },
          ],
          volumes: [{ name: 'pod', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } }],
        },
      },
    },
  };
}

function service(track: string): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'echo', namespace: NS },
    spec: { selector: { app: 'echo', track }, ports: [{ name: 'http', port: 80, targetPort: HTTP_PORT, protocol: 'TCP' }] },
  };
}

/** One GET on a new connection (no keep-alive: each request is balanced anew, as separate clients are). */
function get(ip: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port: 80, path, agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`${path}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${ip}${path}: no answer within 2 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Which pods answer `n` requests to the ClusterIP, with their counts. */
async function answers(ip: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const pod = await get(ip, '/pod/name');
    seen.set(pod, (seen.get(pod) ?? 0) + 1);
  }
  return seen;
}

/** Waits until RUN requests in a row are answered by `expected` pods only, covering all of them; returns the time taken. */
async function waitTraffic(ip: string, expected: readonly string[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(`traffic to ${ip} from exactly ${expected.join(', ')}`, timeoutMs, async () => {
    const seen = await answers(ip, RUN);
    if ([...seen.keys()].every((p) => expected.includes(p)) && expected.every((p) => seen.has(p))) return true;
    throw new Error(`${RUN} requests answered by ${JSON.stringify(Object.fromEntries(seen))}`);
  });
  return Date.now() - t0;
}

async function rollOut(kube: Kube, d: V1Deployment): Promise<string[]> {
  await apply(kube, d);
  const name = d.metadata!.name!;
  expect(await waitRollout(kube, NS, name, 40_000)).toMatchObject({ state: 'done' });
  const pods = await kube.core.listNamespacedPod({ namespace: NS, labelSelector: `app=echo,track=${d.metadata!.labels!.track}` });
  const names = pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!);
  expect(names).toHaveLength(2);
  return names.sort();
}

async function clusterIP(kube: Kube): Promise<string> {
  const svc = await kube.core.readNamespacedService({ name: 'echo', namespace: NS });
  const ip = svc.spec?.clusterIP;
  if (!ip) throw new Error('Service echo has no ClusterIP');
  return ip;
}

async function endpointIPs(kube: Kube): Promise<string[]> {
  const ep = await kube.core.readNamespacedEndpoints({ name: 'echo', namespace: NS });
  return (ep.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((x) => x.ip!)).sort();
}

describe.skipIf(tb.proxy === 'none')(`Services through kube-proxy (${tb.proxy} mode)`, () => {
  let images: { blue: string; green: string };
  let blue: string[] = [];
  let ipA = '';

  beforeAll(async () => {
    const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
    const [blueImg, greenImg] = await Promise.all([buildWebImage(build, 'svc-blue', 'blue'), buildWebImage(build, 'svc-green', 'green')]);
    images = { blue: blueImg, green: greenImg };
    for (const kube of [a, b]) {
      await kube.core.createNamespace({ body: { metadata: { name: NS } } });
      await waitFor(
        `default service account in ${NS}`,
        20_000,
        async () => (await kube.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
      );
    }
  }, 120_000);

  it('a ClusterIP reaches both ready pods of a Deployment', async () => {
    await apply(a, service('blue'));
    blue = await rollOut(a, deployment('blue', images.blue));
    ipA = await clusterIP(a);
    const took = await waitTraffic(ipA, blue, 15_000);
    console.log(`ClusterIP ${ipA} -> ${blue.join(', ')} within ${took} ms of the rollout`);
    expect(await get(ipA, '/')).toBe('blue');
  });

  it('a pod that turns unready stops receiving traffic, and gets it back once ready', async () => {
    const [down, up] = blue as [string, string];
    const mv = (from: string, to: string) => kubectl(tb.kubectl, tb.clusters.a.kubeconfigPath, ['-n', NS, 'exec', down, '--', '/bin/busybox', 'mv', from, to]);
    const r = await mv('/www/index.html', '/www/off.html');
    expect(r.code, r.stderr).toBe(0);
    const t0 = Date.now();
    await waitFor(`${down} out of the Endpoints`, 15_000, async () => ((await endpointIPs(a)).length === 1 ? true : undefined));
    const took = await waitTraffic(ipA, [up], 15_000);
    console.log(`unready pod out of rotation: Endpoints after ${Date.now() - t0 - took} ms, traffic after ${Date.now() - t0} ms`);
    // Not a lucky streak: another 3 x RUN requests, none of them to the unready pod.
    expect([...(await answers(ipA, 3 * RUN)).keys()]).toEqual([up]);
    const back = await mv('/www/off.html', '/www/index.html');
    expect(back.code, back.stderr).toBe(0);
    await waitTraffic(ipA, blue, 15_000);
  });

  it('switching the Service selector moves all traffic to the other Deployment (blue-green)', async () => {
    const green = await rollOut(a, deployment('green', images.green));
    // Green is Ready, but the Service still selects blue: no request may reach green yet.
    expect([...(await answers(ipA, 2 * RUN)).keys()].every((p) => blue.includes(p))).toBe(true);
    const t0 = Date.now();
    await apply(a, service('green'));
    await waitTraffic(ipA, green, 15_000);
    console.log(`selector switch blue -> green: all traffic on green after ${Date.now() - t0} ms`);
    expect(await get(ipA, '/')).toBe('green');
    expect(await clusterIP(a)).toBe(ipA); // the same Service, the same address: only the backends changed
  });

  it('cluster b routes its own Service while a keeps routing (two kube-proxies, one namespace)', async () => {
    await apply(b, service('blue'));
    const bPods = await rollOut(b, deployment('blue', images.blue));
    const ipB = await clusterIP(b);
    await waitTraffic(ipB, bPods, 15_000);
    // b's rules did not replace a's: a's Service still sends everything to green, and nothing to b's pods.
    const greenA = [...(await answers(ipA, RUN)).keys()];
    expect(greenA.every((p) => p.startsWith('echo-green-'))).toBe(true);
    expect(greenA.some((p) => bPods.includes(p))).toBe(false);
    expect(await get(ipA, '/')).toBe('green');
  });
});

describe.runIf(tb.proxy === 'none')('Services without kube-proxy', () => {
  it('are not routed: the kubelet simulator runs no pods', () => {
    console.warn('\n*** KUBELET SIMULATOR IN USE: no kube-proxy, Service routing is NOT tested ***\n');
    expect(tb.kubelet).toBe('sim');
  });
});
