/**
 * Kubernetes deploy latency (issue 11), through a whole running Slipway on the test bed: each run
 * merges a new version of a small service (`build` + `deploy.environments.pre` on cluster a, 2
 * replicas) and measures
 *  (a) "image pushed" → "apply sent": from the image job's finish (its record's `success` time,
 *      written after the push) to the first server-side apply (PATCH) of the deploy job reaching
 *      the apiserver, seen by a small proxy in front of apiserver a (test/helpers/kube-fault-proxy.ts,
 *      passing everything). Baseline, same run: a bare @kubernetes/client-node server-side apply of a
 *      ConfigMap through the same proxy (call → PATCH at the proxy).
 *  (b) "last pod Ready" → Slipway's verdict: from the moment a bare pod watch sees the release's last
 *      pod turn Ready to the deploy job's "successfully rolled out" log line. Baseline, same run: a
 *      bare Deployment watch, i.e. when the Deployment's status first satisfies kubectl's rollout
 *      rules (the controller must update it after the pod; no watcher can know sooner).
 * Every clock is this process's (Slipway runs in it), so the differences need no clock sync.
 *
 *   bash .ci/k8s-testbed.sh exec npx tsx bench/k8s-deploy.ts [--runs 5]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { clusterFromKubeconfigFile, serverSideApply, type ClusterClient } from '../src/kubernetes/cluster.js';
import { rolloutVerdict } from '../src/kubernetes/rollout-status.js';
import { commitFiles } from '../src/standins/gitlab/git-repo.js';
import { deliver, mergeEvent } from '../test/helpers/gitlab-delivery.js';
import { KubeFaultProxy } from '../test/helpers/kube-fault-proxy.js';
import { startHarness, WEBHOOK_SECRET } from '../test/helpers/slipway-harness.js';
import { BASE_IMAGE, ensureBaseImage } from '../test/k8s/image.js';
import { testbed } from '../test/k8s/testbed-env.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 20) throw new Error('--runs must be a whole number from 1 to 20');

const tb = testbed();
const NS = `bench-deploy-${Date.now().toString(36)}`;
const SERVICE = 'bench';
const RUN_ANNOTATION = 'slipway.dev/run';
const PROJECT_ID = 9100;

const PIPELINE = [
  `build: { image: slipway-bench/${NS} }`,
  'deploy:',
  `  service: ${SERVICE}`,
  '  environments:',
  '    pre:',
  '      target: kubernetes',
  '      clusters: [a]',
  '      port: 8080',
  '      health: /healthz',
  '      timeout: 60s',
  '      variables: { REPLICAS: 2, PROGRESS_DEADLINE_SECONDS: 30, READINESS_PERIOD_SECONDS: 1, TERMINATION_GRACE_SECONDS: 1, CPU_REQUEST: 10m, MEMORY_REQUEST: 16Mi }',
  '',
].join('\n');

const files = (version: number) => ({
  '.slipway.yml': PIPELINE,
  Dockerfile: `FROM ${BASE_IMAGE}\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p \${PORT} -h /www"]\n`,
  'www/index.html': `version ${version}\n`,
  'www/healthz': 'ok\n',
});

function scopedKubeconfig(dir: string, server?: string): string {
  const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as {
    contexts: { context: { namespace?: string } }[];
    clusters: { cluster: { server: string } }[];
  };
  for (const c of kc.contexts) c.context.namespace = NS;
  if (server) for (const c of kc.clusters) c.cluster.server = server;
  const file = join(dir, server ? 'a-proxied.kubeconfig' : 'a.kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

/** What the bare watches saw, by local arrival time: each pod's first Ready, each Deployment change's rollout verdict. */
class Watches {
  readonly podReady = new Map<string, { run: string; at: number }>();
  readonly rolledOut = new Map<string, number>();
  private readonly stops: AbortController[] = [];

  async start(c: ClusterClient): Promise<void> {
    const onPod = (_phase: string, obj: unknown) => {
      const p = obj as V1Pod;
      const uid = p.metadata?.uid ?? '';
      const ready = p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
      if (ready && !this.podReady.has(uid)) this.podReady.set(uid, { run: p.metadata?.annotations?.[RUN_ANNOTATION] ?? '', at: Date.now() });
    };
    const onDeployment = (_phase: string, obj: unknown) => {
      const d = obj as V1Deployment;
      const run = d.spec?.template?.metadata?.annotations?.[RUN_ANNOTATION] ?? '';
      if (rolloutVerdict(d).state === 'done' && !this.rolledOut.has(run)) this.rolledOut.set(run, Date.now());
    };
    const fail = (what: string) => (err: unknown) => {
      if (err && !(err instanceof Error && err.name === 'AbortError')) console.error(`bare ${what} watch ended: ${String(err)}`);
    };
    this.stops.push(await c.watch.watch(`/api/v1/namespaces/${NS}/pods`, {}, onPod, fail('pod')));
    this.stops.push(await c.watch.watch(`/apis/apps/v1/namespaces/${NS}/deployments`, {}, onDeployment, fail('deployment')));
  }

  stop(): void {
    for (const s of this.stops) s.abort();
  }
}

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const ms = (x: number) => `${Math.round(x)} ms`;
const pct = (x: number, base: number) => (base > 0 ? `${((100 * x) / base).toFixed(0)}%` : 'n/a');

async function main(): Promise<void> {
  if (tb.kubelet === 'sim') throw new Error('the kubelet simulator is in use: this benchmark needs real pods');
  const dir = mkdtempSync(join(tmpdir(), 'slipway-bench-k8s-'));
  const A = tb.clusters.a;
  const proxy = await KubeFaultProxy.start({ upstream: A.server, caPath: A.caPath, tlsCertPath: A.tlsCertPath, tlsKeyPath: A.tlsKeyPath });
  // Every request passes; the rule only records when each PATCH (a server-side apply) reached the proxy.
  const patches: Array<{ at: number; path: string }> = [];
  await proxy.inject({
    fault: { kind: 'status', status: 500 },
    match: (req) => {
      if (req.method === 'PATCH') patches.push({ at: Date.now(), path: req.path });
      return false;
    },
  });
  const direct = clusterFromKubeconfigFile('a', scopedKubeconfig(dir));
  const proxied = clusterFromKubeconfigFile('a', scopedKubeconfig(dir, proxy.url));
  const watches = new Watches();
  const h = await startHarness({
    env: { DOCKER_HOST: tb.dockerHost, SLIPWAY_REGISTRY: tb.registry, SLIPWAY_CLUSTERS: `a=${join(dir, 'a-proxied.kubeconfig')}` },
  });
  try {
    await ensureBaseImage(tb);
    await direct.core.createNamespace({ body: { metadata: { name: NS } } });
    await waitUntil(`default service account in ${NS}`, 20_000, async () =>
      direct.core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(
        () => true,
        () => undefined,
      ),
    );
    await watches.start(direct);
    const project = await h.gitlab.addProject({ id: PROJECT_ID, pathWithNamespace: `bench/${SERVICE}`, defaultBranch: 'main' });
    await commitFiles(project.bareDir, 'main', { 'README.md': 'bench\n' }, 'Initial commit');

    const rows: Array<{ toApply: number; toRendered: number; bareApply: number; toVerdict: number; bareWatch: number }> = [];
    for (let i = 1; i <= RUNS; i++) {
      // Baseline (a): a bare server-side apply through the same proxy, call → PATCH at the proxy.
      const before = patches.length;
      const t0 = Date.now();
      await serverSideApply(proxied, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `bare-${i}`, namespace: NS }, data: { i: String(i) } });
      const bareApply = (patches[before]?.at ?? Number.NaN) - t0;

      const sha = await commitFiles(project.bareDir, 'main', files(i), `Merge ${i}`);
      const res = await deliver(
        h.url,
        'Merge Request Hook',
        mergeEvent({ projectId: PROJECT_ID, path: project.pathWithNamespace, sha, iid: i }),
        WEBHOOK_SECRET,
      );
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      const runId = String(res.json['runId']);
      const run = await h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], 120_000);
      if (run.status.phase !== 'succeeded') throw new Error(`run ${runId} ${run.status.phase}: ${run.status.reason}`);

      // (a) image job finished → first PATCH after it.
      const image = run.jobs.find((j) => j.kind === 'image');
      const imageDone = Date.parse(image?.status.at ?? '');
      const firstApply = patches.find((p) => p.at >= imageDone);
      if (!firstApply) throw new Error(`run ${runId}: no apply reached the apiserver after the image job`);

      // (b) last pod of this run Ready → Slipway's verdict (its log line), against the bare Deployment watch.
      const log = await h.slipway.store.readLog(runId);
      const verdictLine = log.find((l) => l.job === 'deploy:pre' && l.line === `a: deployment "${SERVICE}" successfully rolled out`);
      if (!verdictLine) throw new Error(`run ${runId}: no verdict line in the deploy log`);
      const verdictAt = Date.parse(verdictLine.t);
      // Where (a) goes: queue hops, environment lock and the run record up to the rendered release, then the apply itself.
      const rendered = log.find((l) => l.job === 'deploy:pre' && l.line.startsWith('rendered '));
      const renderedAt = rendered ? Date.parse(rendered.t) : Number.NaN;
      const ready = await waitUntil(`the bare watch to see run ${runId}'s 2 pods Ready`, 10_000, () => {
        const mine = [...watches.podReady.values()].filter((p) => p.run === runId);
        return mine.length >= 2 ? mine : undefined;
      });
      const lastReady = Math.max(...ready.map((p) => p.at));
      const bareDone = await waitUntil(`the bare watch to see run ${runId} rolled out`, 10_000, () => watches.rolledOut.get(runId));
      const row = {
        toApply: firstApply.at - imageDone,
        toRendered: renderedAt - imageDone,
        bareApply,
        toVerdict: verdictAt - lastReady,
        bareWatch: bareDone - lastReady,
      };
      rows.push(row);
      console.log(
        `run ${i}/${RUNS} (${runId}): image pushed → apply sent ${ms(row.toApply)} (of which to the rendered release ${ms(row.toRendered)}; bare apply ${ms(row.bareApply)}); ` +
          `last pod Ready → verdict ${ms(row.toVerdict)} (bare Deployment watch ${ms(row.bareWatch)}); first PATCH ${firstApply.path}`,
      );
    }

    const m = {
      toApply: median(rows.map((r) => r.toApply)),
      bareApply: median(rows.map((r) => r.bareApply)),
      toVerdict: median(rows.map((r) => r.toVerdict)),
      bareWatch: median(rows.map((r) => r.bareWatch)),
    };
    console.log(`\nmedians of ${RUNS} runs:`);
    console.log('| measurement | median | max | baseline (median) | ratio to baseline | target |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    console.log(
      `| (a) image pushed → first server-side apply at the apiserver | ${ms(m.toApply)} | ${ms(Math.max(...rows.map((r) => r.toApply)))} | bare client-node apply ${ms(m.bareApply)} | ${pct(m.toApply, m.bareApply)} | < 1 s: ${m.toApply < 1000 ? 'met' : 'NOT met'} |`,
    );
    console.log(
      `| (b) last pod Ready → Slipway's verdict | ${ms(m.toVerdict)} | ${ms(Math.max(...rows.map((r) => r.toVerdict)))} | bare Deployment watch ${ms(m.bareWatch)} | ${pct(m.toVerdict, m.bareWatch)} | < 1 s: ${m.toVerdict < 1000 ? 'met' : 'NOT met'} |`,
    );
  } finally {
    watches.stop();
    await h.stop();
    await proxy.close();
    await direct.core.deleteNamespace({ name: NS }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
