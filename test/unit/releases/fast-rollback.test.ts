import { describe, expect, it } from 'vitest';
import type { Manifest, ReleaseSpec } from '../../../src/deploy/deploy-target.js';
import { fastRollbackSpec } from '../../../src/releases/fast-rollback.js';

const deployment = (strategy?: Record<string, unknown>): Manifest => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    replicas: 2,
    ...(strategy ? { strategy } : {}),
    template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'app', image: 'x@sha256:1' }] } },
  },
});
const spec = (manifests: Manifest[]): ReleaseSpec => ({
  service: 'web',
  environment: 'production',
  image: 'x@sha256:1',
  env: {},
  port: 8080,
  healthPath: '/',
  runId: 'r1',
  kubernetes: { manifests, clusters: [] },
});

describe('a rollback applies the recorded release with all its pods at once', () => {
  it('sets maxSurge to 100% on a rolling Deployment and keeps maxUnavailable and the pod template as recorded', () => {
    const recorded = spec([
      deployment({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
    ]);
    const before = structuredClone(recorded);
    const fast = fastRollbackSpec(recorded);
    const d = fast.kubernetes?.manifests[0] as Manifest & { spec: { strategy: unknown; template: unknown } };
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '100%', maxUnavailable: 0 } });
    expect(d.spec.template).toEqual((before.kubernetes?.manifests[0]?.['spec'] as { template: unknown } | undefined)?.template);
    expect(fast.kubernetes?.manifests[1]).toEqual(before.kubernetes?.manifests[1]);
    // The recorded spec itself is not changed.
    expect(recorded).toEqual(before);
  });

  it('a Deployment without a strategy gets a rolling one with maxSurge 100%; Recreate and the docker host are left alone', () => {
    const d = fastRollbackSpec(spec([deployment()])).kubernetes?.manifests[0] as Manifest & { spec: { strategy: unknown } };
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '100%' } });
    const recreate = spec([deployment({ type: 'Recreate' })]);
    expect(fastRollbackSpec(recreate)).toEqual(recreate);
    const { kubernetes: _manifests, ...docker } = spec([]);
    expect(fastRollbackSpec(docker)).toBe(docker);
  });
});
