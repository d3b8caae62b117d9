import { describe, expect, it } from 'vitest';
import type { ReleaseFiles, ReleaseRequest } from '../../../src/deploy/deploy-target.js';
import { createKubernetesTarget } from '../../../src/kubernetes/kubernetes-target.js';

// The deploy job renders a Kubernetes release only through the seam's `prepare`; these check what it
// hands the rollout (objects, clusters, where they came from) and what a bad template reports.
const CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-extra}\ndata: {greeting: "${GREETING}"}\n';

function request(template: string, repo: ReleaseFiles): ReleaseRequest {
  return {
    template,
    base: { service: 'web', environment: 'pre', image: `reg/web@sha256:${'a'.repeat(64)}`, env: {}, port: 8080, healthPath: '/healthz', runId: 'mk1-abc' },
    commitSha: 'c'.repeat(40),
    runUrl: 'https://slipway.example/runs/mk1-abc',
    clusters: ['eu', 'us'],
    variables: { GREETING: 'hi' },
    secrets: {},
    repo,
  };
}

describe('Kubernetes target: prepare', () => {
  const target = createKubernetesTarget(new Map());

  it("renders the repository's deploy/ YAML files into the release, labelled with the run, for the environment's clusters", async () => {
    const asked: string[] = [];
    const repo: ReleaseFiles = {
      file: () => Promise.resolve(null),
      dir: (path, accept) => {
        const names = ['cm.yml', 'README.md'].filter(accept);
        asked.push(`${path}:${names.join(',')}`);
        return Promise.resolve(path === 'deploy/' ? names.map((n) => ({ name: `deploy/${n}`, text: CONFIGMAP })) : null);
      },
    };
    const prepared = await target.prepare!(request('docker-service', repo));
    expect(prepared.ok, JSON.stringify(prepared)).toBe(true);
    if (!prepared.ok) return;
    expect(asked).toEqual(['deploy/:cm.yml']);
    expect(prepared.source).toBe('deploy/');
    expect(prepared.spec).toMatchObject({ service: 'web', environment: 'pre', runId: 'mk1-abc', port: 8080 });
    expect(prepared.spec.kubernetes?.clusters).toEqual(['eu', 'us']);
    const [cm] = prepared.spec.kubernetes?.manifests ?? [];
    expect(cm?.data).toEqual({ greeting: 'hi' });
    expect(cm?.metadata.labels?.['slipway.dev/run']).toBe('mk1-abc');
    expect(cm?.metadata.annotations?.['slipway.dev/run-url']).toBe('https://slipway.example/runs/mk1-abc');
  });

  it('says an invalid or missing template applies nothing, naming the file', async () => {
    const repo: ReleaseFiles = {
      file: (path) => Promise.resolve(path === 'k8s.yml' ? 'apiVersion: v1\nkind: ConfigMap\n' : null),
      dir: () => Promise.resolve(null),
    };
    const invalid = await target.prepare!(request('k8s.yml', repo));
    expect(invalid.ok).toBe(false);
    if (invalid.ok) return;
    expect(invalid.reason).toMatch(/^deploy manifests are invalid, nothing was applied:\nk8s\.yml:\d+:\d+/);
    const missing = await target.prepare!(request('other.yml', repo));
    expect(missing).toEqual({ ok: false, reason: expect.stringContaining('deploy template other.yml not found in the repository') });
  });
});
