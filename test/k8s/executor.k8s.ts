// Slipway's Kubernetes executor (src/pod-executor/) on the real test bed: a job's step runs as a Pod
// of its own in this file's namespace, its log streamed line by line, its exit code the result, the
// timeout and cancel deleting the Pod, variables from a Secret (masked in the log as the build worker
// does), resources on the step container, and the work tree carried from one step to the next.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET } from '../helpers/slipway-harness.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepResult, StepSpec } from '../../src/executors/types.js';
import { clusterFromKubeconfigFile, statusOf, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createMasker } from '../../src/logging/mask.js';
import { createPodExecutor } from '../../src/pod-executor/pod-executor.js';
import { stepObjectName } from '../../src/pod-executor/pod-spec.js';
import { pushBaseImage } from './image.js';
import { waitFor } from './kube.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
const NS = `executor-${Date.now().toString(36)}`;
let a: ClusterClient;
let image = '';
let executor: ReturnType<typeof createPodExecutor>;
let work = '';

function step(id: string, script: string[], extra: Partial<StepSpec> = {}): StepSpec {
  return {
    id: `${NS}-${id}`,
    image,
    argv: ['/bin/sh', '-c', ['set -e', ...script].join('\n')],
    env: {},
    workdir: '/workspace',
    mounts: [{ source: work, target: '/workspace' }],
    timeoutMs: 60_000,
    network: 'none',
    labels: { 'io.slipway.run': NS, 'io.slipway.job': `job ${id}` },
    ...extra,
  };
}

async function podOf(spec: StepSpec): Promise<V1Pod | undefined> {
  try {
    return await a.core.readNamespacedPod({ name: stepObjectName(spec.id), namespace: NS });
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw e;
  }
}

beforeAll(async () => {
  if (tb.kubelet === 'sim') throw new Error('the executor needs real pods: this test bed runs the kubelet simulator');
  image = await pushBaseImage({ dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox });
  a = clusterFromKubeconfigFile('a', tb.clusters.a.kubeconfigPath);
  await a.core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor(
    `default service account in ${NS}`,
    20_000,
    async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
  );
  executor = createPodExecutor(a, { namespace: NS, helperImage: image, startTimeoutMs: 60_000 });
  work = await mkdtemp(join(tmpdir(), 'slipway-executor-k8s-'));
}, 180_000);

afterAll(async () => {
  await a?.core.deleteNamespace({ name: NS }).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the Kubernetes executor runs job steps as Pods', () => {
  it('streams the step log line by line, in order, while the step runs', async () => {
    const lines: { line: string; at: number }[] = [];
    const spec = step('stream', ['echo first', 'sleep 5', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i"; done', 'sleep 1', 'echo last >&2']);
    const result = await executor.runStep(spec, (line) => lines.push({ line, at: Date.now() }));
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, canceled: false });
    expect(lines.map((l) => l.line)).toEqual(['first', ...Array.from({ length: 10 }, (_, i) => `line ${i + 1}`), 'last']);
    // Streamed, not read at the end: the first line arrived while the step still slept. (stdout and
    // stderr are copied by separate goroutines of the runtime: only writes apart in time keep their order.)
    expect((lines[1]?.at ?? 0) - (lines[0]?.at ?? 0)).toBeGreaterThan(3_000);
    expect(await podOf(spec)).toBeUndefined();
  });

  it('reports the exit code of the step', async () => {
    const result = await executor.runStep(step('exit3', ['echo failing', 'exit 3']), () => undefined);
    expect(result).toMatchObject({ exitCode: 3, timedOut: false, canceled: false });
  });

  it('a step past its timeout is stopped, its Pod deleted, and the result says it timed out', async () => {
    const spec = step('timeout', ['echo sleeping', 'sleep 120'], { timeoutMs: 4_000 });
    const t0 = Date.now();
    const result = await executor.runStep(spec, () => undefined);
    expect(result.timedOut).toBe(true);
    expect(result.canceled).toBe(false);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(await podOf(spec)).toBeUndefined();
  });

  it('cancel deletes the running Pod', async () => {
    const spec = step('cancel', ['echo started', 'sleep 120']);
    const abort = new AbortController();
    let seenRunning: V1Pod | undefined;
    const result = await executor.runStep(
      spec,
      (line) => {
        if (line !== 'started') return;
        void podOf(spec).then((p) => {
          seenRunning = p;
          abort.abort();
        });
      },
      abort.signal,
    );
    expect(seenRunning?.status?.phase).toBe('Running');
    expect(result).toMatchObject({ canceled: true, timedOut: false });
    expect(await podOf(spec)).toBeUndefined();
  });

  it('variables reach the step from a Secret, not the Pod spec, and a masked one is hidden in the log', async () => {
    const SECRET = 'hunter2-very-secret-value';
    const mask = createMasker([SECRET]);
    const lines: string[] = [];
    const spec = step('env', ['echo "greeting=$GREETING"', 'echo "token=$DEPLOY_TOKEN"', 'sleep 2'], {
      env: { GREETING: 'hello from the pipeline', DEPLOY_TOKEN: SECRET },
    });
    let seen: V1Pod | undefined;
    const running = executor.runStep(spec, (line) => {
      lines.push(mask(line));
      if (line.startsWith('greeting=')) void podOf(spec).then((p) => (seen = p));
    });
    const result = await running;
    expect(result.exitCode).toBe(0);
    expect(lines).toEqual(['greeting=hello from the pipeline', 'token=[MASKED]']);
    const container = seen?.spec?.containers.find((c) => c.name === 'step');
    expect(container?.env).toBeUndefined();
    expect(container?.envFrom).toEqual([{ secretRef: { name: stepObjectName(spec.id) } }]);
    expect(JSON.stringify(seen)).not.toContain(SECRET);
    await expect(a.core.readNamespacedSecret({ name: stepObjectName(spec.id), namespace: NS })).rejects.toSatisfy((e) => statusOf(e) === 404);
  });

  it('the job resources are on the step container, and its memory limit is what the step sees', async () => {
    const lines: string[] = [];
    const spec = step('resources', ['cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max', 'sleep 2'], {
      resources: { requests: { cpuMillis: 50, memoryBytes: 32 * 2 ** 20 }, limits: { cpuMillis: 200, memoryBytes: 64 * 2 ** 20 } },
    });
    let seen: V1Pod | undefined;
    const result = await executor.runStep(spec, (line) => {
      lines.push(line);
      void podOf(spec).then((p) => (seen ??= p));
    });
    expect(result.exitCode).toBe(0);
    expect(lines).toEqual([String(64 * 1024 * 1024)]);
    expect(seen?.spec?.containers.find((c) => c.name === 'step')?.resources).toEqual({
      requests: { cpu: '50m', memory: String(32 * 2 ** 20) },
      limits: { cpu: '200m', memory: String(64 * 2 ** 20) },
    });
  });

  it("two steps of one job share the work tree, and the build node's copy has what the steps wrote", async () => {
    await writeFile(join(work, 'source.txt'), 'from the repository\n');
    const first: StepResult = await executor.runStep(
      step('share-1', ['mkdir -p out', 'cat source.txt > out/built.txt', 'echo built >> out/built.txt']),
      () => undefined,
    );
    expect(first.exitCode).toBe(0);
    expect(await readFile(join(work, 'out', 'built.txt'), 'utf8')).toBe('from the repository\nbuilt\n');
    const lines: string[] = [];
    const second = await executor.runStep(step('share-2', ['cat out/built.txt', 'rm source.txt']), (line) => lines.push(line));
    expect(second.exitCode).toBe(0);
    expect(lines).toEqual(['from the repository', 'built']);
    await expect(readFile(join(work, 'source.txt'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});

describe('a running Slipway with SLIPWAY_EXECUTOR=kubernetes', () => {
  it('runs a script job as a Pod, with no Docker engine: its log, its resources and its JUnit report reach the run record', async () => {
    // Cluster a's kubeconfig scoped to this file's namespace, as an operator scopes the executor's credentials.
    const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
    for (const c of kc.contexts) c.context.namespace = NS;
    const kubeconfig = join(work, '..', `${NS}.kubeconfig`);
    writeFileSync(kubeconfig, stringify(kc), { mode: 0o600 });
    const h = await startHarness({
      env: {
        // No engine at all: script jobs must not need one.
        DOCKER_HOST: 'unix:///nonexistent/docker.sock',
        SLIPWAY_REGISTRY: tb.registry,
        SLIPWAY_CLUSTERS: `a=${kubeconfig}`,
        SLIPWAY_EXECUTOR: 'kubernetes',
        SLIPWAY_EXECUTOR_CLUSTER: 'a',
        SLIPWAY_EXECUTOR_HELPER_IMAGE: image,
      },
    });
    try {
      const projectId = 8100 + Math.floor(Math.random() * 800);
      const project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/exec-${NS}`, defaultBranch: 'main' });
      const pipeline = [
        'unit:',
        `  image: ${image}`,
        '  variables: { SUITE: kube }',
        '  resources: { requests: { cpu: 50m, memory: 32Mi }, limits: { memory: 48Mi } }',
        '  script:',
        '    - echo "suite $SUITE on $(cat greeting.txt)"',
        '    - cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
        `    - printf '<testsuite name="k" tests="2"><testcase name="a"/><testcase name="b"><failure message="no"/></testcase></testsuite>' > junit.xml`,
        '  artifacts: { reports: { junit: junit.xml } }',
        '',
      ].join('\n');
      const sha = await commitFiles(project.bareDir, 'feature/pods', { '.slipway.yml': pipeline, 'greeting.txt': 'the pod\n' }, 'a job on Kubernetes');
      const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch: 'feature/pods' }), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      const runId = String(res.json['runId']);
      const run = await h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], 120_000);
      const job = await h.slipway.store.getJob(runId, 'unit');
      const log = (await h.slipway.store.readLog(runId)).filter((l) => l.job === 'unit').map((l) => l.line);
      expect(job?.status.phase, `${run.status.reason} / ${job?.status.reason ?? ''} / ${log.join('\n')}`).toBe('success');
      expect(log).toContain('suite kube on the pod');
      expect(log).toContain(String(48 * 2 ** 20));
      // The report was written in the Pod and read from the build node's copy of the work tree.
      expect(job?.tests).toMatchObject({ passed: 1, failed: 1 });
    } finally {
      await h.stop();
      await rm(kubeconfig, { force: true });
    }
  }, 180_000);
});
