// Progressive delivery gated by a real Prometheus, through a running Slipway (the GitLab stand-in,
// real git over http-backend, images built on node a's engine and pushed to the test bed's
// registry, as pipeline.k8s.ts): Debian's prometheus runs inside the test bed's network namespace
// and scrapes every pod of this file's namespace every second (targets written by the test, see
// writeTargets). Two projects deploy to cluster a:
// - shop, a canary (3 replicas, setWeight 25 then 50) whose `analysis:` is the error rate of the
//   run's pods: a good version is promoted after passing at both steps; a version whose pods report
//   errors is aborted at its first step, stable back to 3 replicas, the canary deleted, and the run,
//   the job, GitLab's commit status and the MR note say why (query, value, when, threshold).
// - cart, blue-green with `prePromotionAnalysis` (the error rate of the new side's pods, named by
//   its slot through ${SLIPWAY_NEW_SLOT}): a good version is switched; a bad one is never switched
//   (its Service answers the old version throughout) and its side is scaled to 0; and a version
//   whose `postPromotionAnalysis` (an HTTP gate answering fail) fails is switched back.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { hasPrometheus, NO_PROMETHEUS, startPrometheus, type PrometheusProcess } from '../helpers/prometheus.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';
import { BASE_IMAGE, ensureBaseImage } from './image.js';
import { sleep, waitFor } from './kube.js';
import { testbed } from './testbed-env.js';

const tb = testbed();
const NS = `progressive-${Date.now().toString(36)}`;
const suffix = randomBytes(3).toString('hex');
const skip = tb.kubelet === 'sim' || !hasPrometheus();
if (tb.kubelet === 'sim') console.warn('\n*** KUBELET SIMULATOR IN USE: nothing answers behind a simulated pod; progressive-analysis.k8s.ts is skipped ***\n');
if (!hasPrometheus()) console.warn(`\n*** SKIPPED: ${NO_PROMETHEUS} ***\n`);

const SMALL = '{ PROGRESS_DEADLINE_SECONDS: 20, READINESS_PERIOD_SECONDS: 1, TERMINATION_GRACE_SECONDS: 1, CPU_REQUEST: 5m, MEMORY_REQUEST: 8Mi';

/** An error-rate metric (Argo's AnalysisTemplate keys) over the pods a selector names. */
function errorRate(name: string, selector: string): string[] {
  return [
    `    ${name}:`,
    '      metrics:',
    `        - name: ${name}`,
    // The new pods' targets appear through the test's discovery, then rate() over 5 s needs two scrapes; on
    // a loaded test bed that can outlast the initial delay (an empty result: inconclusive, tolerated twice).
    '          initialDelay: 5s',
    '          interval: 2s',
    '          count: 3',
    '          inconclusiveLimit: 2',
    '          consecutiveErrorLimit: 2',
    '          successCondition: result[0] < 0.05',
    '          provider:',
    '            prometheus:',
    `              query: 'sum(rate(http_requests_total{code=~"5..", ${selector}}[5s])) / sum(rate(http_requests_total{${selector}}[5s]))'`,
  ];
}

function shopPipeline(): string {
  return [
    `build: { image: slipway-e2e/shop-${suffix} }`,
    'deploy:',
    '  service: shop',
    '  analysis:',
    ...errorRate('error-rate', 'service=${SLIPWAY_SERVICE}, run=${SLIPWAY_PIPELINE_ID}'),
    '  environments:',
    '    pre:',
    '      target: kubernetes',
    '      clusters: [a]',
    '      port: 8080',
    '      health: /',
    '      timeout: 60s',
    `      variables: ${SMALL}, REPLICAS: 3 }`,
    '      analysis: [error-rate]',
    '      strategy:',
    '        canary:',
    '          steps:',
    '            - setWeight: 25',
    '            - setWeight: 50',
    '',
  ].join('\n');
}

function cartPipeline(gateUrl?: string): string {
  return [
    `build: { image: slipway-e2e/cart-${suffix} }`,
    'deploy:',
    '  service: cart',
    '  analysis:',
    ...errorRate('new-side-errors', 'service=${SLIPWAY_SERVICE}, slot=${SLIPWAY_NEW_SLOT}'),
    ...(gateUrl ? ['    change-ticket:', '      metrics:', '        - name: change-ticket', `          provider: { http: { url: "${gateUrl}" } }`] : []),
    '  environments:',
    '    pre:',
    '      target: kubernetes',
    '      clusters: [a]',
    '      port: 8080',
    '      health: /',
    '      timeout: 60s',
    `      variables: ${SMALL}, REPLICAS: 2 }`,
    '      strategy:',
    '        blue-green:',
    '          scaleDownDelay: 2s',
    '          prePromotionAnalysis: [new-side-errors]',
    ...(gateUrl ? ['          postPromotionAnalysis: [change-ticket]'] : []),
    '',
  ].join('\n');
}

/**
 * The service at one version: `/` answers the version, `/cgi-bin/metrics` (a busybox shell CGI
 * script, made executable when the container starts: git keeps no mode here) exports
 * `http_requests_total` counters growing with the clock, with `errorsPerSecond` 500s.
 */
function serviceFiles(pipeline: string, version: string, errorsPerSecond: number): Record<string, string> {
  return {
    '.slipway.yml': pipeline,
    Dockerfile: `FROM ${BASE_IMAGE}\nCOPY www /www\nCMD ["/bin/sh", "-c", "chmod 755 /www/cgi-bin/metrics && exec httpd -f -p \${PORT} -h /www"]\n`,
    'www/index.html': `${version}\n`,
    'www/cgi-bin/metrics': [
      '#!/bin/sh',
      'read up rest < /proc/uptime',
      's=${up%.*}',
      'echo "Content-Type: text/plain; version=0.0.4"',
      'echo',
      'echo "# TYPE http_requests_total counter"',
      `echo "http_requests_total{code=\\"200\\"} $((s * ${100 - errorsPerSecond}))"`,
      `echo "http_requests_total{code=\\"500\\"} $((s * ${errorsPerSecond}))"`,
      '',
    ].join('\n'),
  };
}

let h: Harness;
let a: ClusterClient;
let prom: PrometheusProcess | undefined;
let gate: Server | undefined;
let gateUrl = '';
let workDir = '';
const projects = {} as Record<'shop' | 'cart', FakeProject & { id: number }>;
let iid = 0;

function scopedKubeconfig(): string {
  const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = NS;
  const file = join(workDir, 'a.kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

/**
 * Service discovery: Debian builds prometheus without kubernetes_sd, so the test does what its pod
 * role and a relabeling would: every 500 ms it lists this namespace's running pods and writes them
 * with `service` (the pod's slipway.dev/service label), `run` (its slipway.dev/run annotation) and
 * `slot` (its slipway.dev/slot label, blue-green only) into a file_sd file prometheus re-reads.
 */
let targets = '';
let discovery: NodeJS.Timeout | undefined;
async function writeTargets(): Promise<void> {
  const pods = await a.core.listNamespacedPod({ namespace: NS });
  const groups = pods.items
    .filter((p) => p.status?.podIP && p.status.phase === 'Running' && !p.metadata?.deletionTimestamp)
    .map((p) => ({
      targets: [`${p.status?.podIP}:8080`],
      labels: {
        service: p.metadata?.labels?.['slipway.dev/service'] ?? '',
        run: p.metadata?.annotations?.['slipway.dev/run'] ?? '',
        slot: p.metadata?.labels?.['slipway.dev/slot'] ?? '',
        pod: p.metadata?.name ?? '',
      },
    }));
  const text = JSON.stringify(groups);
  if (existsSync(targets) && readFileSync(targets, 'utf8') === text) return;
  writeFileSync(`${targets}.tmp`, text);
  renameSync(`${targets}.tmp`, targets);
}

async function merge(which: 'shop' | 'cart', files: Record<string, string>, message: string): Promise<{ sha: string; runId: string; iid: number }> {
  const project = projects[which];
  const sha = await commitFiles(project.bareDir, 'main', files, message);
  iid += 1;
  h.gitlab.addMergeRequest(project.id, { iid, authorId: 51764 });
  const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId: project.id, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
  expect(res.status).toBe(202);
  return { sha, runId: String(res.json['runId']), iid };
}

async function finished(runId: string, timeoutMs: number): Promise<RunRecord> {
  return h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], timeoutMs).catch(async (e: unknown) => {
    const r = await h.slipway.store.get(runId);
    console.log(JSON.stringify(r?.jobs.map((j) => [j.name, j.status])), h.logs.slice(-20).join('\n'));
    throw e;
  });
}

async function deployLog(runId: string): Promise<string[]> {
  return (await h.slipway.store.readLog(runId)).filter((l) => l.job === 'deploy:pre').map((l) => l.line);
}

const deployment = (name: string) => a.apps.readNamespacedDeployment({ name, namespace: NS });
const missing = (name: string) =>
  deployment(name).then(
    () => false,
    () => true,
  );

async function clusterIp(service: string): Promise<string> {
  const ip = (await a.core.readNamespacedService({ name: service, namespace: NS })).spec?.clusterIP;
  if (!ip) throw new Error(`service ${service} has no ClusterIP`);
  return ip;
}

/** GET http://ip/ on a new connection (kube-proxy picks a pod per connection), with a deadline. */
function fetchOnce(ip: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    const req = get({ host: ip, port: 80, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`));
      res.on('error', (e) => resolve(`error: ${e.message}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve(`error: ${e.message}`));
  });
}

/** Polls a Service from now until `until` settles; every answer, in order. */
async function answersDuring<T>(service: string, until: Promise<T>): Promise<{ result: T; answers: string[] }> {
  const ip = await clusterIp(service);
  const answers: string[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      answers.push(await fetchOnce(ip));
      await sleep(100);
    }
  })();
  try {
    return { result: await until, answers };
  } finally {
    polling = false;
    await poller;
  }
}

/** What GitLab last heard for the deploy job of this commit. */
function lastDeployStatus(which: 'shop' | 'cart', sha: string) {
  return h.gitlab
    .statuses(projects[which].id, sha)
    .filter((s) => s.name === 'slipway/deploy:pre')
    .at(-1);
}

beforeAll(async () => {
  if (skip) return;
  workDir = mkdtempSync(join(tmpdir(), 'slipway-progressive-k8s-'));
  targets = join(workDir, 'targets.json');
  a = clusterFromKubeconfigFile('a', scopedKubeconfig());
  await Promise.all([
    ensureBaseImage(tb),
    (async () => {
      await a.core.createNamespace({ body: { metadata: { name: NS } } });
      await waitFor(
        `default service account in ${NS}`,
        20_000,
        async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
      );
    })(),
  ]);
  discovery = setInterval(() => void writeTargets().catch(() => undefined), 500);
  await writeTargets();
  prom = await startPrometheus([{ job_name: 'pods', metrics_path: '/cgi-bin/metrics', file_sd_configs: [{ files: [targets], refresh_interval: '1s' }] }]);
  // The change-ticket HTTP gate: withdrawn, so a postPromotionAnalysis naming it fails.
  gate = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ pass: false, reason: 'change ticket CHG-7 was withdrawn' }));
  });
  await new Promise<void>((resolve) => gate?.listen(0, '127.0.0.1', resolve));
  const address = gate.address();
  gateUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/tickets/CHG-7`;
  h = await startHarness({
    env: {
      DOCKER_HOST: tb.dockerHost,
      SLIPWAY_REGISTRY: tb.registry,
      SLIPWAY_CLUSTERS: `a=${join(workDir, 'a.kubeconfig')}`,
      SLIPWAY_PROMETHEUS_URL: prom.url,
    },
  });
  const base = 7900 + Math.floor(Math.random() * 90) * 2;
  for (const [i, name] of (['shop', 'cart'] as const).entries()) {
    const id = base + i;
    projects[name] = { ...(await h.gitlab.addProject({ id, pathWithNamespace: `team/${name}-${suffix}`, defaultBranch: 'main' })), id };
    await commitFiles(projects[name].bareDir, 'main', { 'README.md': 'hi\n' }, 'Initial commit');
  }
}, 180_000);

afterAll(async () => {
  clearInterval(discovery);
  await h?.stop();
  await prom?.stop();
  await new Promise<void>((resolve) => (gate ? gate.close(() => resolve()) : resolve()));
  if (!skip) await a?.core.deleteNamespace({ name: NS }).catch(() => undefined);
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe.skipIf(skip)('a canary gated by Prometheus at its steps, through a running Slipway', () => {
  let stable: RunRecord;

  it('a first release is rolled out; a good version passes its analysis at both steps and is promoted', async () => {
    const first = await merge('shop', serviceFiles(shopPipeline(), `shop v1 ${suffix}`, 0), 'shop v1');
    const v1 = await finished(first.runId, 180_000);
    expect(v1.status.phase, v1.status.reason).toBe('succeeded');

    const second = await merge('shop', serviceFiles(shopPipeline(), `shop v2 ${suffix}`, 0), 'shop v2');
    stable = await finished(second.runId, 180_000);
    expect(stable.status.phase, stable.status.reason).toBe('succeeded');
    const log = await deployLog(stable.id);
    expect(log).toContain('analysis at 25% (step 1 of 2): error-rate');
    expect(log).toContain('analysis at 50% (step 2 of 2): error-rate');
    expect(log.filter((l) => /^analysis passed \(\d measurements\)$/.test(l))).toHaveLength(2);
    // Never a failed measurement (the first may be inconclusive while Prometheus has one scrape of a new pod).
    expect(log.filter((l) => / measurement \d\/3 failed: /.test(l))).toEqual([]);
    // Promoted: every replica on v2, the canary deleted, the Service answering v2 only.
    const d = await deployment('shop');
    expect(d.spec?.replicas).toBe(3);
    expect(d.spec?.template?.spec?.containers[0]?.image).toBe(stable.image?.ref);
    expect(await missing('shop-canary')).toBe(true);
    const ip = await clusterIp('shop');
    await waitFor('the Service to answer v2 only', 20_000, async () => {
      const got = new Set(await Promise.all(Array.from({ length: 10 }, () => fetchOnce(ip))));
      return got.size === 1 && got.has(`shop v2 ${suffix}`) ? true : undefined;
    });
  }, 420_000);

  it('a version whose pods report errors is aborted at its first step; the run, the commit status and the MR note say why', async () => {
    const t0 = Date.now();
    const bad = await merge('shop', serviceFiles(shopPipeline(), `shop v3 ${suffix}`, 50), 'shop v3 (half its requests fail)');
    const run = await finished(bad.runId, 180_000);
    expect(run.status.phase).toBe('failed');
    const job = run.jobs.find((j) => j.name === 'deploy:pre');
    expect(job?.status.phase).toBe('failed');
    const reason = job?.status.reason ?? '';
    const m =
      /^deploy to pre failed: canary aborted at 25% \(step 1 of 2\): step gate failed: analysis error-rate failed 1 of \d measurements \(limit 0\): (.*) = ([\d.]+) at (\S+), needs result\[0\] < 0\.05; all traffic is back on run (\S+)'s release$/.exec(
        reason,
      );
    expect(m, reason).not.toBeNull();
    expect(m?.[1]).toContain(`sum(rate(http_requests_total{code=~"5..", service="shop", run="${run.id}"}[5s]))`);
    expect(Number(m?.[2])).toBeGreaterThan(0.3);
    expect(Date.parse(m?.[3] ?? '')).toBeGreaterThan(t0);
    expect(m?.[4]).toBe(stable.id);
    expect(run.status.reason).toBe(reason);

    // Stable back to all 3 replicas on v2, the canary gone, and only v2 answers.
    const d = await deployment('shop');
    expect(d.spec?.replicas).toBe(3);
    expect(d.spec?.template?.spec?.containers[0]?.image).toBe(stable.image?.ref);
    expect(await missing('shop-canary')).toBe(true);
    const ip = await clusterIp('shop');
    // The canary's pods leave the Service's endpoints as they terminate (about a second on this test bed).
    await waitFor('20 answers in a row from v2 only', 15_000, async () => {
      const after = await Promise.all(Array.from({ length: 20 }, () => fetchOnce(ip)));
      return after.every((x) => x === `shop v2 ${suffix}`) ? true : undefined;
    });

    // GitLab: the commit status keeps the value, the time and the threshold within its 255 characters; the MR note has it all.
    const status = lastDeployStatus('shop', bad.sha);
    expect(status?.status).toBe('failed');
    expect(status?.description?.length).toBeLessThanOrEqual(255);
    expect(status?.description).toMatch(
      /^deploy to pre failed: canary aborted at 25% \(step 1 of 2\): step gate failed: analysis error-rate failed 1 of \d measurements \(limit 0\): sum\(rate\(http_requests_total.*= [\d.]+ at \S+, needs result\[0\] < 0\.05/,
    );
    expect(status?.description).toContain(` = ${m?.[2]} at ${m?.[3]}, needs result[0] < 0.05`);
    const note = await waitFor('the MR note to give the reason', 15_000, async () => {
      const body = h.gitlab.notes(projects.shop.id, bad.iid)[0]?.body ?? '';
      return body.includes('canary aborted at 25%') ? body : undefined;
    });
    // The note's table escapes '<' as '&lt;' (GitLab renders it back).
    expect(note).toContain(` = ${m?.[2]} at ${m?.[3]}, needs result[0] &lt; 0.05`);
    expect(note).toContain(`run="${run.id}"`);
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  }, 300_000);
});

describe.skipIf(skip)('blue-green gated by Prometheus before the switch (prePromotionAnalysis) and after it (postPromotionAnalysis)', () => {
  let live: RunRecord;

  it('a good version passes its prePromotionAnalysis on the new side and is switched', async () => {
    const first = await merge('cart', serviceFiles(cartPipeline(), `cart v1 ${suffix}`, 0), 'cart v1');
    const v1 = await finished(first.runId, 180_000);
    expect(v1.status.phase, v1.status.reason).toBe('succeeded');
    expect(await deployLog(v1.id)).toContain('a: no previous side: prePromotionAnalysis is skipped on a first blue-green deploy, as Argo Rollouts does');

    const second = await merge('cart', serviceFiles(cartPipeline(), `cart v2 ${suffix}`, 0), 'cart v2');
    live = await finished(second.runId, 180_000);
    expect(live.status.phase, live.status.reason).toBe('succeeded');
    const log = await deployLog(live.id);
    expect(log).toContain('prePromotionAnalysis of the green side: new-side-errors');
    expect(log).toContain('prePromotionAnalysis passed (3 measurements)');
    // The query named the new side's pods by their slot.
    expect(log.some((l) => l.includes('slot="green"'))).toBe(true);
    expect((await a.core.readNamespacedService({ name: 'cart', namespace: NS })).spec?.selector?.['slipway.dev/slot']).toBe('green');
    const ip = await clusterIp('cart');
    await waitFor('the Service to answer v2', 20_000, async () => ((await fetchOnce(ip)) === `cart v2 ${suffix}` ? true : undefined));
  }, 420_000);

  it('a version whose new side reports errors is never switched: the Service answers the old version throughout, the new side is scaled to 0', async () => {
    const bad = await merge('cart', serviceFiles(cartPipeline(), `cart v3 ${suffix}`, 50), 'cart v3 (half its requests fail)');
    const { result: run, answers } = await answersDuring('cart', finished(bad.runId, 180_000));
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.filter((x) => x !== `cart v2 ${suffix}`)).toEqual([]);
    expect(run.status.phase).toBe('failed');
    const reason = run.jobs.find((j) => j.name === 'deploy:pre')?.status.reason ?? '';
    expect(reason).toMatch(
      new RegExp(
        `^deploy to pre failed, rolled back to run ${live.id}: prePromotionAnalysis failed, not switched: analysis new-side-errors failed 1 of \\d measurements \\(limit 0\\): .*slot="blue".* = [\\d.]+ at \\S+, needs result\\[0\\] < 0\\.05; the active service kept the previous side$`,
      ),
    );
    expect((await a.core.readNamespacedService({ name: 'cart', namespace: NS })).spec?.selector?.['slipway.dev/slot']).toBe('green');
    expect((await deployment('cart-blue')).spec?.replicas).toBe(0);
    expect((await deployment('cart-green')).spec?.template?.spec?.containers[0]?.image).toBe(live.image?.ref);
    expect(lastDeployStatus('cart', bad.sha)?.description).toContain('prePromotionAnalysis failed, not switched: analysis new-side-errors failed');
  }, 300_000);

  it('a version whose postPromotionAnalysis fails after the switch is switched back to the previous side', async () => {
    const third = await merge('cart', serviceFiles(cartPipeline(gateUrl), `cart v4 ${suffix}`, 0), 'cart v4 (its change ticket is withdrawn)');
    const run = await finished(third.runId, 180_000);
    expect(run.status.phase).toBe('failed');
    // What serves: the previous (green) side again, the new one at 0.
    expect((await a.core.readNamespacedService({ name: 'cart', namespace: NS })).spec?.selector?.['slipway.dev/slot']).toBe('green');
    expect((await deployment('cart-blue')).spec?.replicas).toBe(0);
    const ip = await clusterIp('cart');
    await waitFor('the Service to answer v2 again', 20_000, async () => ((await fetchOnce(ip)) === `cart v2 ${suffix}` ? true : undefined));
    const reason = run.jobs.find((j) => j.name === 'deploy:pre')?.status.reason ?? '';
    expect(reason).toMatch(
      new RegExp(`^deploy to pre failed, rolled back to run ${live.id}: postPromotionAnalysis failed, switched back: analysis change-ticket failed`),
    );
    const log = await deployLog(run.id);
    expect(log).toContain('prePromotionAnalysis passed (3 measurements)');
    expect(log.some((l) => l.startsWith('a: switched service') && l.includes('to the blue side'))).toBe(true);
    expect(log.some((l) => l.startsWith('a: switched service') && l.includes('back (selector'))).toBe(true);
  }, 300_000);
});
