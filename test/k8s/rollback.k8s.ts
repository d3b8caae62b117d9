// Rollback on demand on a real cluster: two releases deployed through Slipway's Kubernetes target and
// recorded in the release history (as the deploy job records them), then the rollback request and
// the deploy worker's rollback job re-apply the first release's recorded spec. Its pods come back:
// the same image digest, the same ConfigMap (config revision), the same ReplicaSet.
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollOut } from '../../src/deploy/roll-out.js';
import { requestRollback, type RollbackJobData } from '../../src/releases/rollback.js';
import { runRollbackJob } from '../../src/releases/run-rollback-job.js';
import { HTTP_PORT } from './image.js';
import { kubectl, replicaSetsOf } from './kube.js';
import { ENVIRONMENT, openRollbackBed, SERVICE, type RollbackBed } from './rollback-bed.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
let bed: RollbackBed;

async function readyPods(): Promise<V1Pod[]> {
  const pods = await bed.a.core.listNamespacedPod({ namespace: bed.ns, labelSelector: `slipway.dev/service=${SERVICE}` });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}
const configOf = (p: V1Pod) => p.spec?.containers?.[0]?.envFrom?.find((e) => e.configMapRef)?.configMapRef?.name;

async function deploy(runId: string, image: string, greeting: string) {
  const spec = await bed.release(runId, image, greeting);
  const applied = await rollOut(bed.target, spec, { timeoutMs: 60_000, onLog: () => undefined });
  await bed.ledger.recordDeploy({
    kind: 'deploy',
    spec,
    target: 'kubernetes',
    project: { id: 1, path: 'team/web' },
    sha: 'c'.repeat(40),
    digest: image.slice(image.indexOf('@') + 1),
    reason: `pipeline ${runId}: merge of main`,
    outcome: 'live',
    url: applied.url,
    detail: 'ready',
    timeoutMs: 60_000,
  });
  const d = await bed.a.apps.readNamespacedDeployment({ name: SERVICE, namespace: bed.ns });
  return { replicaSet: (await replicaSetsOf(bed.a, d)).at(-1)?.metadata?.name ?? '', pods: await readyPods() };
}

beforeAll(async () => {
  if (tb.kubelet === 'sim') console.warn('\n*** KUBELET SIMULATOR IN USE: no real pods run; image IDs and HTTP are not checked ***\n');
  bed = await openRollbackBed(tb, 'rollback');
}, 180_000);
afterAll(async () => {
  await bed?.close();
});

describe('rollback on demand re-applies a recorded release on a real cluster', () => {
  it('v1, v2, then a rollback: v1 pods (digest and config) are back, from v1 ReplicaSet; deploys are paused', async () => {
    const v1 = await deploy('run-1', bed.images.v1, 'one');
    const v2 = await deploy('run-2', bed.images.v2, 'two');
    const [cm1, cm2] = [configOf(v1.pods[0] ?? {}), configOf(v2.pods[0] ?? {})];
    expect(cm1).toMatch(/^web-config-/);
    expect(cm2).not.toBe(cm1);
    expect(v2.replicaSet).not.toBe(v1.replicaSet);
    expect(v2.pods.map((p) => p.spec?.containers?.[0]?.image)).toEqual([bed.images.v2, bed.images.v2]);
    const recorded = await bed.histories.of(SERVICE, ENVIRONMENT).list();
    expect(recorded.map((r) => [r.id, r.kind, r.configRevision, r.digest])).toEqual([
      [2, 'deploy', cm2, bed.images.v2.split('@')[1]],
      [1, 'deploy', cm1, bed.images.v1.split('@')[1]],
    ]);

    const queued: RollbackJobData[] = [];
    const t0 = Date.now();
    const asked = await requestRollback(bed.histories, { service: SERVICE, environment: ENVIRONMENT, reason: 'v2 is slow', by: 'alice' }, async (job) => {
      queued.push(job);
    });
    expect(asked).toMatchObject({ status: 202, target: { id: 1 }, rollback: { id: 3, outcome: 'pending' } });
    expect(queued).toEqual([{ service: SERVICE, environment: ENVIRONMENT, release: 3 }]);
    expect(await bed.ledger.pausedReason(SERVICE, ENVIRONMENT)).toContain('paused since the rollback to release 1 by alice');
    expect(await runRollbackJob(bed.ctx, bed.histories, queued[0] ?? { service: '', environment: '', release: 0 })).toEqual({ done: true });
    console.log(`rollback: request to Ready in ${Date.now() - t0} ms`);

    const entry = await bed.histories.of(SERVICE, ENVIRONMENT).get(3);
    expect(entry).toMatchObject({ kind: 'rollback', rollbackTo: 1, outcome: 'live', by: 'alice', reason: 'v2 is slow', configRevision: cm1, runId: 'run-1' });
    expect(entry?.log).toContain(`a: deployment "${SERVICE}" successfully rolled out`);
    const pods = await readyPods();
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.spec?.containers?.[0]?.image).toBe(bed.images.v1);
      expect(configOf(p)).toBe(cm1);
      expect(p.metadata?.annotations?.['slipway.dev/run']).toBe('run-1');
    }
    const d = await bed.a.apps.readNamespacedDeployment({ name: SERVICE, namespace: bed.ns });
    // The Deployment went back to v1's ReplicaSet (the same pod template), as `kubectl rollout undo` would.
    expect((await replicaSetsOf(bed.a, d)).at(-1)?.metadata?.name).toBe(v1.replicaSet);
    const cm = await bed.a.core.readNamespacedConfigMap({ name: cm1 ?? '', namespace: bed.ns });
    expect(cm.data?.['GREETING']).toBe('one');
    const k = await kubectl(tb.kubectl, bed.kubeconfig, ['-n', bed.ns, 'rollout', 'status', `deployment/${SERVICE}`, '--timeout=5s']);
    expect(k.code, k.stderr).toBe(0);
    if (tb.kubelet === 'real') {
      for (const p of pods) {
        // The kubelet pulled exactly v1's digest, and the pod serves v1.
        expect(p.status?.containerStatuses?.[0]?.imageID).toContain(bed.images.v1.split('@')[1]);
        expect(await (await fetch(`http://${p.status?.podIP}:${HTTP_PORT}/`, { signal: AbortSignal.timeout(5_000) })).text()).toBe('rollback v1');
      }
    }
  });
});
