// The fault proxy in front of the real apiserver of cluster a: each fault is seen by a real client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { KubeFaultProxy } from '../helpers/kube-fault-proxy.js';
import { testbed } from './testbed-env.js';
import { kubeFromConfig, type Kube } from './kube.js';

const tb = testbed();
const A = tb.clusters.a;
let proxy: KubeFaultProxy;
let kube: Kube;
let token = '';

/** A raw GET through the proxy: status, headers, or the socket error's code. */
function rawGet(path: string, timeoutMs: number): Promise<{ status?: number; headers?: Record<string, unknown>; error?: string }> {
  return new Promise((resolve) => {
    const req = request(`${proxy.url}${path}`, { ca: readFileSync(A.caPath), headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ error: 'TIMEOUT' });
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

beforeAll(async () => {
  proxy = await KubeFaultProxy.start({ upstream: A.server, caPath: A.caPath, tlsCertPath: A.tlsCertPath, tlsKeyPath: A.tlsKeyPath });
  const kc = new KubeConfig();
  kc.loadFromFile(A.kubeconfigPath);
  token = kc.getCurrentUser()?.token ?? '';
  // Same CA and token as cluster a, pointed at the proxy.
  kc.loadFromOptions({
    clusters: [{ name: 'proxied', server: proxy.url, caData: kc.getCurrentCluster()!.caData!, skipTLSVerify: false }],
    users: [{ name: 'admin', token }],
    contexts: [{ name: 'proxied', cluster: 'proxied', user: 'admin' }],
    currentContext: 'proxied',
  });
  kube = kubeFromConfig(kc);
});

afterAll(async () => {
  await proxy.close();
});

describe('kube fault proxy in front of the real apiserver', () => {
  it('passes requests through untouched when no fault is set', async () => {
    const ns = await kube.core.readNamespace({ name: 'default' });
    expect(ns.metadata?.name).toBe('default');
    expect(proxy.log.at(-1)).toBe('pass');
  });

  it('injects a 500 for the given number of requests, then passes', async () => {
    await proxy.inject({ fault: { kind: 'status', status: 500 }, times: 1 });
    await expect(kube.core.readNamespace({ name: 'default' })).rejects.toMatchObject({ code: 500 });
    expect((await kube.core.readNamespace({ name: 'default' })).metadata?.name).toBe('default');
    expect(proxy.log.slice(-2)).toEqual(['status', 'pass']);
  });

  it('answers 429 with Retry-After', async () => {
    await proxy.inject({ fault: { kind: 'throttle', retryAfterSeconds: 7 } });
    const err = await kube.core.readNamespace({ name: 'default' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 429 });
    expect((err as { headers: Record<string, string> }).headers['retry-after']).toBe('7');
    await proxy.clear();
  });

  it('only faults the requests its matcher selects', async () => {
    await proxy.inject({ fault: { kind: 'status', status: 500 }, match: (r) => r.path.includes('/deployments') });
    expect((await kube.core.readNamespace({ name: 'default' })).metadata?.name).toBe('default');
    await expect(kube.apps.listNamespacedDeployment({ namespace: 'default' })).rejects.toMatchObject({ code: 500 });
    await proxy.clear();
  });

  it('hangs a request (no answer until the client gives up)', async () => {
    await proxy.inject({ fault: { kind: 'hang' }, times: 1 });
    expect(await rawGet('/api/v1/namespaces/default', 800)).toEqual({ error: 'TIMEOUT' });
    expect((await rawGet('/api/v1/namespaces/default', 5_000)).status).toBe(200);
  });

  it('resets the connection', async () => {
    await proxy.inject({ fault: { kind: 'reset' }, times: 1 });
    const r = await rawGet('/api/v1/namespaces/default', 5_000);
    expect(r.error).toMatch(/ECONNRESET|socket hang up/);
  });

  it('drops a watch mid-stream: the client sees it end', async () => {
    await proxy.inject({ fault: { kind: 'drop-watch', afterMs: 500 }, match: (r) => r.watch });
    const t0 = Date.now();
    const ended = new Promise<number>((resolve) => {
      void new Watch(kube.kc).watch(
        '/api/v1/namespaces',
        {},
        () => undefined,
        () => resolve(Date.now() - t0),
      );
    });
    const ms = await ended;
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(5_000);
    expect(proxy.log.at(-1)).toBe('drop-watch');
    await proxy.clear();
  });

  it('makes the cluster unreachable (connection refused) until cleared', async () => {
    await proxy.inject({ fault: { kind: 'unreachable' } });
    expect((await rawGet('/api/v1/namespaces/default', 2_000)).error).toBe('ECONNREFUSED');
    await expect(kube.core.readNamespace({ name: 'default' })).rejects.toThrow();
    await proxy.clear();
    expect((await kube.core.readNamespace({ name: 'default' })).metadata?.name).toBe('default');
  });
});
