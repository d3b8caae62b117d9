// The post-deploy analysis on the real test bed: Slipway's Kubernetes target rolls a release out
// (built-in templates, server-side apply, kubectl's rollout rules), then `rollOut` runs the
// environment's analysis through runAnalysis against Debian's prometheus, which runs inside the test
// bed's network namespace and scrapes each of this file's pods every second (targets from the
// pods' list in cluster a: file_sd, see writeTargets). A good version passes and
// stays; a version whose pods report errors is aborted and rolled back to the good one, and the
// reason names the query, the value Prometheus returned, when, and the threshold.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { AnalysisTemplate } from '../../src/analysis/types.js';
import { DeployFailedError } from '../../src/deploy/deploy-errors.js';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { analysisVariables, postDeployAnalysis } from '../../src/deploy/post-deploy-analysis.js';
import { rollOut } from '../../src/deploy/roll-out.js';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createKubernetesTarget } from '../../src/kubernetes/kubernetes-target.js';
import { renderRelease } from '../../src/kubernetes/templates.js';
import { hasPrometheus, NO_PROMETHEUS, startPrometheus, type PrometheusProcess } from '../helpers/prometheus.js';
import { buildMetricsImage, HTTP_PORT } from './image.js';
import { waitFor } from './kube.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
const NS = `analysis-${Date.now().toString(36)}`;
const SERVICE = 'web';
const skip = tb.kubelet === 'sim' || !hasPrometheus();
if (tb.kubelet === 'sim') console.warn('\n*** KUBELET SIMULATOR IN USE: nothing answers behind a simulated pod, so the analysis is NOT tested ***\n');
if (!hasPrometheus()) console.warn(`\n*** SKIPPED: ${NO_PROMETHEUS} ***\n`);

const dir = mkdtempSync(join(tmpdir(), 'slipway-analysis-k8s-'));
let a: ClusterClient;
let target: ReturnType<typeof createKubernetesTarget>;
let prom: PrometheusProcess | undefined;
let images: { good: string; bad: string };
const logs: string[] = [];
const onLog = (line: string) => {
  logs.push(line);
};

/** The pipeline file's `deploy.analysis.error-rate`, as the planner normalizes it. */
const ERROR_RATE: AnalysisTemplate = {
  name: 'error-rate',
  metrics: [
    {
      name: 'error-rate',
      // The new pods' targets appear through the watch, then rate() over 5 s needs two scrapes.
      initialDelayMs: 5_000,
      count: 3,
      intervalMs: 1_000,
      failureLimit: 0,
      inconclusiveLimit: 1,
      consecutiveErrorLimit: 2,
      successCondition: 'result[0] < 0.05',
      provider: {
        prometheus: {
          query:
            'sum(rate(http_requests_total{code=~"5..", service=${SLIPWAY_SERVICE}, run=${SLIPWAY_PIPELINE_ID}}[5s])) / sum(rate(http_requests_total{service=${SLIPWAY_SERVICE}, run=${SLIPWAY_PIPELINE_ID}}[5s]))',
        },
      },
    },
  ],
};

/** Cluster a's kubeconfig with its context's namespace set to this file's namespace. */
function scopedKubeconfig(): string {
  const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = NS;
  const file = join(dir, 'a.kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

/**
 * Service discovery: Debian builds prometheus without kubernetes_sd (its client library is not
 * packaged), so the test does what kubernetes_sd's pod role would: every 500 ms it lists this
 * file's running pods and writes them, with the labels a relabeling would give (service, run, pod),
 * into a file_sd file that prometheus re-reads on change.
 */
const TARGETS = join(dir, 'targets.json');
let discovery: NodeJS.Timeout | undefined;
async function writeTargets(): Promise<void> {
  const pods = await a.core.listNamespacedPod({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE}` });
  const groups = pods.items
    .filter((p) => p.status?.podIP && p.status.phase === 'Running' && !p.metadata?.deletionTimestamp)
    .map((p) => ({
      targets: [`${p.status?.podIP}:${HTTP_PORT}`],
      labels: { service: SERVICE, run: p.metadata?.annotations?.['slipway.dev/run'] ?? '', pod: p.metadata?.name ?? '' },
    }));
  const text = JSON.stringify(groups);
  if (existsSync(TARGETS) && readFileSync(TARGETS, 'utf8') === text) return;
  writeFileSync(`${TARGETS}.tmp`, text);
  renameSync(`${TARGETS}.tmp`, TARGETS);
}

async function release(runId: string, image: string): Promise<ReleaseSpec> {
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
      port: HTTP_PORT,
      healthPath: '/',
      variables: {
        REPLICAS: '2',
        PROGRESS_DEADLINE_SECONDS: '15',
        TERMINATION_GRACE_SECONDS: '1',
        READINESS_PERIOD_SECONDS: '1',
        CPU_REQUEST: '10m',
        MEMORY_REQUEST: '16Mi',
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
    port: HTTP_PORT,
    healthPath: '/',
    runId,
    kubernetes: { manifests: rendered.manifests.map((m) => m.object), clusters: ['a'] },
  };
}

/** What the deploy job hands rollOut for an environment with `analysis: [error-rate]`. */
function analyze(runId: string, image: string) {
  if (!prom) throw new Error('prometheus is not running');
  return postDeployAnalysis([ERROR_RATE], {
    prometheusUrl: prom.url,
    vars: analysisVariables({ service: SERVICE, environment: 'pre', commitSha: 'c0ffee', runId, image }, {}),
    onLog,
  });
}

async function readyPodRuns(): Promise<string[]> {
  const pods = await a.core.listNamespacedPod({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE}` });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .map((p) => p.metadata?.annotations?.['slipway.dev/run'] ?? '?')
    .sort();
}

beforeAll(async () => {
  if (skip) return;
  const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
  const [good, bad] = await Promise.all([
    buildMetricsImage(build, 'analysis-good', 'good version', { okPerSecond: 100, errorsPerSecond: 0 }),
    buildMetricsImage(build, 'analysis-bad', 'bad version', { okPerSecond: 50, errorsPerSecond: 50 }),
  ]);
  images = { good, bad };
  a = clusterFromKubeconfigFile('a', scopedKubeconfig());
  target = createKubernetesTarget(new Map([['a', a]]));
  await a.core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor(
    `default service account in ${NS}`,
    20_000,
    async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
  );
  discovery = setInterval(() => void writeTargets().catch(() => undefined), 500);
  await writeTargets();
  prom = await startPrometheus([
    {
      job_name: 'pods',
      metrics_path: '/cgi-bin/metrics',
      file_sd_configs: [{ files: [TARGETS], refresh_interval: '1s' }],
    },
  ]);
}, 120_000);

afterAll(async () => {
  clearInterval(discovery);
  await prom?.stop();
  if (!skip) await a?.core.deleteNamespace({ name: NS }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip)('the post-deploy analysis on a real cluster, with a real Prometheus', () => {
  it('a good version passes its analysis and stays', async () => {
    const t0 = Date.now();
    const applied = await rollOut(target, await release('run-1', images.good), { timeoutMs: 60_000, onLog, analyze: analyze('run-1', images.good) });
    console.log(`good version: rolled out and analysed in ${Date.now() - t0} ms`);
    expect(applied.alreadyLive).toBe(false);
    expect(logs).toContain('analysis passed (3 measurements)');
    // Three measurements, each 0 errors; on a loaded test bed one query may fail (an `error` measurement,
    // tolerated by consecutiveErrorLimit), never a failed or inconclusive one.
    const measured = logs.filter((l) => /^analysis error-rate: measurement \d\/3 /.test(l));
    expect(measured).toHaveLength(3);
    expect(measured.filter((l) => /^analysis error-rate: measurement \d\/3 successful: .* = 0 at /.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(measured.filter((l) => !/ (successful|error): /.test(l))).toEqual([]);
    expect(await readyPodRuns()).toEqual(['run-1', 'run-1']);
    expect(await target.describe(SERVICE, 'pre')).toMatchObject({ runId: 'run-1', image: images.good });
  });

  it('a version whose pods report errors is aborted and rolled back, the reason naming query, value, threshold and time', async () => {
    const t0 = new Date();
    let err: unknown;
    let rolledBack = false;
    try {
      await rollOut(target, await release('run-2', images.bad), {
        timeoutMs: 60_000,
        onLog,
        onRollBack: () => {
          rolledBack = true;
        },
        analyze: analyze('run-2', images.bad),
      });
    } catch (e) {
      err = e;
    }
    console.log(`bad version: aborted and rolled back in ${Date.now() - t0.getTime()} ms: ${err instanceof Error ? err.message : String(err)}`);
    expect(err).toBeInstanceOf(DeployFailedError);
    const failed = err as DeployFailedError;
    expect(rolledBack).toBe(true);
    expect(failed.more.rolledBack?.toRun).toBe('run-1');
    const m = /^analysis error-rate failed 1 of \d measurements \(limit 0\): (.*) = ([\d.]+) at (\S+), needs result\[0\] < 0\.05$/.exec(failed.reason);
    expect(m, failed.reason).not.toBeNull();
    expect(m?.[1]).toContain('sum(rate(http_requests_total{code=~"5..", service="web", run="run-2"}[5s]))');
    expect(Number(m?.[2])).toBeGreaterThan(0.3);
    expect(Date.parse(m?.[3] ?? '')).toBeGreaterThan(t0.getTime());
    // The Deployment is back on the good version's ReplicaSet, and only its pods serve.
    expect(logs.some((l) => l.startsWith('a: rolling deployment ') && l.includes('(run run-1)'))).toBe(true);
    expect(await target.describe(SERVICE, 'pre')).toMatchObject({ runId: 'run-1', image: images.good });
    await waitFor('only the good version ready', 30_000, async () => ((await readyPodRuns()).join() === 'run-1,run-1' ? true : undefined));
  });
});
