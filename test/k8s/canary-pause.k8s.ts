// A canary's `pause: {}` on a real cluster (src/kubernetes/canary.ts through rollOutCanary): the
// canary stays at its replica ratio while it waits for a decision; an approval resumes it at the
// next step and promotes it, a rejection aborts it (stable back to all replicas, the canary deleted).
// The decisions come from a stand-in for the approvals code (the deploy job's Redis record and the
// approvals API are tested through a running Slipway in test/integration/canary-pause.test.ts).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { DeployFailedError } from '../../src/deploy/deploy-errors.js';
import { rollOut } from '../../src/deploy/roll-out.js';
import { rollOutCanary, type PauseApproval, type PauseDecision } from '../../src/deploy/canary-roll-out.js';
import type { StrategyStep } from '../../src/planning/plan-types.js';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createKubernetesTarget, type KubernetesTarget } from '../../src/kubernetes/kubernetes-target.js';
import { buildWebImage, HTTP_PORT } from './image.js';
import { waitFor } from './kube.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
const NS = `canary-pause-${Date.now().toString(36)}`;
let a: ClusterClient;
let target: KubernetesTarget;
let images: { v1: string; v2: string; v3: string };
const onLog = (line: string) => void line;

function scopedKubeconfig(): string {
  const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = NS;
  const file = join(mkdtempSync(join(tmpdir(), 'slipway-canary-pause-k8s-')), 'a.kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

async function release(runId: string, image: string): Promise<ReleaseSpec> {
  const prepared = await target.prepare!({
    template: 'kubernetes',
    base: { service: 'paused', environment: 'pre', image, env: {}, port: HTTP_PORT, healthPath: '/', runId },
    commitSha: runId.padEnd(40, '0').replace(/[^0-9a-f]/g, 'a'),
    runUrl: `http://slipway.test/runs/${runId}`,
    clusters: ['a'],
    strategy: { type: 'canary' },
    variables: {
      REPLICAS: '4',
      PROGRESS_DEADLINE_SECONDS: '10',
      TERMINATION_GRACE_SECONDS: '1',
      READINESS_PERIOD_SECONDS: '1',
      CPU_REQUEST: '5m',
      MEMORY_REQUEST: '8Mi',
    },
    secrets: {},
    repo: { file: () => Promise.resolve(null), dir: () => Promise.resolve(null) },
  });
  if (!prepared.ok) throw new Error(prepared.reason);
  return prepared.spec;
}

const deployment = (name: string) => a.apps.readNamespacedDeployment({ name, namespace: NS });
const missing = (read: () => Promise<unknown>) =>
  read().then(
    () => false,
    () => true,
  );

/** Stands in for the approvals code: the decision is given by the test while the canary waits. */
function approvals(): PauseApproval & { decide: (d: PauseDecision) => void; opened: Promise<number> } {
  let decision: PauseDecision | null = null;
  let opened!: (step: number) => void;
  return {
    opened: new Promise((r) => (opened = r)),
    decide: (d) => (decision = d),
    open: (at) => {
      opened(at.step);
      return Promise.resolve({ deadline: Date.now() + 120_000 });
    },
    poll: () => Promise.resolve(decision),
  };
}

const steps: StrategyStep[] = [{ setWeight: 25 }, { pauseMs: null }, { setWeight: 50 }];

beforeAll(async () => {
  const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
  const [v1, v2, v3] = await Promise.all([
    buildWebImage(build, 'pause-v1', 'v1'),
    buildWebImage(build, 'pause-v2', 'v2'),
    buildWebImage(build, 'pause-v3', 'v3'),
  ]);
  images = { v1, v2, v3 };
  a = clusterFromKubeconfigFile('a', scopedKubeconfig());
  target = createKubernetesTarget(new Map([['a', a]]));
  await a.core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor(
    `default service account in ${NS}`,
    20_000,
    async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
  );
  await rollOut(target, await release('run-p1', images.v1), { timeoutMs: 90_000, onLog });
}, 180_000);

afterAll(async () => {
  await a?.core.deleteNamespace({ name: NS }).catch(() => undefined);
});

describe.skipIf(tb.kubelet === 'sim')('a canary paused for an approval on a real cluster', () => {
  it('stays at 1 of 4 replicas while it waits; approved, it goes on to 2 of 4 and is promoted', async () => {
    const decider = approvals();
    const statuses: string[] = [];
    const replicas: string[] = [];
    const done = rollOutCanary(target, await release('run-p2', images.v2), steps, {
      timeoutMs: 90_000,
      checkEveryMs: 500,
      onLog,
      onStatus: async (s) => {
        statuses.push(s);
        replicas.push(`${s}: stable ${(await deployment('paused')).spec?.replicas}, canary ${(await deployment('paused-canary')).spec?.replicas}`);
      },
      approval: decider,
    });
    expect(await decider.opened).toBe(2);
    // Waiting: still 3 stable and 1 canary pod a few health checks later.
    await new Promise((r) => setTimeout(r, 4_000));
    expect((await deployment('paused')).spec?.replicas).toBe(3);
    expect((await deployment('paused-canary')).status?.readyReplicas).toBe(1);
    expect(statuses.at(-1)).toBe('canary at 25%: waiting for an approval (step 2 of 3)');
    decider.decide({ approved: true, by: '@ann' });
    const promoted = await done;
    expect(promoted.replaces).toBe('run-p1');
    expect(replicas).toEqual([
      'canary at 25% (step 1 of 3): stable 3, canary 1',
      'canary at 25%: waiting for an approval (step 2 of 3): stable 3, canary 1',
      'canary at 50% (step 3 of 3): stable 2, canary 2',
    ]);
    const d = await deployment('paused');
    expect(d.spec?.replicas).toBe(4);
    expect(d.spec?.template?.spec?.containers?.[0]?.image).toBe(images.v2);
    expect(await missing(() => deployment('paused-canary'))).toBe(true);
  }, 240_000);

  it('rejected, it is aborted with the reason: stable back to 4 replicas, the canary deleted', async () => {
    const decider = approvals();
    const done = rollOutCanary(target, await release('run-p3', images.v3), steps, { timeoutMs: 90_000, checkEveryMs: 500, onLog, approval: decider }).catch(
      (e: unknown) => e,
    );
    await decider.opened;
    decider.decide({ approved: false, reason: 'rejected by @bert: error budget spent' });
    const err = await done;
    expect(err).toBeInstanceOf(DeployFailedError);
    expect((err as Error).message).toBe(
      "canary aborted at 25% (step 2 of 3): rejected by @bert: error budget spent; all traffic is back on run run-p2's release",
    );
    expect(await missing(() => deployment('paused-canary'))).toBe(true);
    const d = await deployment('paused');
    expect(d.spec?.replicas).toBe(4);
    expect(d.spec?.template?.spec?.containers?.[0]?.image).toBe(images.v2);
  }, 240_000);
});
