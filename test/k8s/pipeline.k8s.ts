// The whole of Slipway on the real test bed: a GitLab merge (the stand-in, real git over
// http-backend) becomes a tested image, built on node a's engine and pushed to the test bed's
// registry (127.0.0.1:5052, which both kubelets pull from), deployed to cluster a (pre) by itself
// and, once approved, to cluster b (production) by the same digest. A second merge whose release
// never gets ready is rolled back by itself while the old pods keep answering through the Service.
// Runs inside the test bed's network namespace, like every file of this suite: Slipway's embedded
// Redis, the GitLab stand-in and the ClusterIPs are all reached there.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';
import { BASE_IMAGE, ensureBaseImage } from './image.js';
import { sleep, waitFor } from './kube.js';
import { testbed, type ClusterName } from './testbed-env.js';

const tb = testbed();
const NS = `pipeline-${Date.now().toString(36)}`;
const SERVICE = 'web';
const PROJECT_ID = 7100 + Math.floor(Math.random() * 800);
const APPROVER = { id: 7301, username: 'release-manager' };
const suffix = randomBytes(3).toString('hex');

// pre on cluster a, production on cluster b, both in this file's namespace (the built-in templates
// name the Deployment after the service, so one cluster and namespace holds one environment of it).
const PIPELINE = [
  'stages: [test, build, deploy]',
  'unit:',
  '  stage: test',
  `  image: ${BASE_IMAGE}`,
  '  script: [sh test/run.sh]',
  `build: { image: slipway-e2e/${SERVICE}-${suffix} }`,
  'deploy:',
  `  service: ${SERVICE}`,
  '  environments:',
  '    pre:',
  '      target: kubernetes',
  '      clusters: [a]',
  '      port: 8080',
  '      health: /healthz',
  '      timeout: 60s',
  '      variables: { REPLICAS: 2, PROGRESS_DEADLINE_SECONDS: 20, READINESS_PERIOD_SECONDS: 1, TERMINATION_GRACE_SECONDS: 1, CPU_REQUEST: 10m, MEMORY_REQUEST: 16Mi }',
  '    production:',
  '      target: kubernetes',
  '      clusters: [b]',
  '      port: 8080',
  '      health: /healthz',
  '      timeout: 60s',
  '      approval: true',
  '      variables: { REPLICAS: 1, PROGRESS_DEADLINE_SECONDS: 20, READINESS_PERIOD_SECONDS: 1, TERMINATION_GRACE_SECONDS: 1, CPU_REQUEST: 10m, MEMORY_REQUEST: 16Mi }',
  '',
].join('\n');

/** The service at one version; `healthy: false` keeps the readiness page out of the image, so its pods never get ready. */
function serviceFiles(version: string, healthy = true): Record<string, string> {
  return {
    '.dockerignore': healthy ? '' : 'www/healthz\n',
    '.slipway.yml': PIPELINE,
    // PORT comes from the Deployment (SLIPWAY_PORT); httpd listens on every address so the kubelet's probe reaches it.
    Dockerfile: `FROM ${BASE_IMAGE}\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p \${PORT} -h /www"]\n`,
    'www/index.html': `${version}\n`,
    'www/healthz': 'ok\n',
    'test/run.sh': `set -e\ngrep -q '${version}' www/index.html\necho "1 check passed"\n`,
  };
}

let h: Harness;
let project: FakeProject;
let workDir = '';
const clusters = {} as Record<ClusterName, ClusterClient>;
let iid = 0;

/** A cluster's kubeconfig with its context's namespace set to this file's namespace, as an operator scopes deploy credentials. */
function scopedKubeconfig(name: ClusterName): string {
  const kc = parse(readFileSync(tb.clusters[name].kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = NS;
  const file = join(workDir, `${name}.kubeconfig`);
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

async function merge(files: Record<string, string>, message: string): Promise<{ sha: string; runId: string; iid: number }> {
  const sha = await commitFiles(project.bareDir, 'main', files, message);
  iid += 1;
  h.gitlab.addMergeRequest(PROJECT_ID, { iid, authorId: 51764 });
  const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId: PROJECT_ID, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
  expect(res.status).toBe(202);
  return { sha, runId: String(res.json['runId']), iid };
}

/** Waits for the run's final phase; on a timeout prints where each job stood and Slipway's last log lines. */
async function finished(runId: string, timeoutMs: number): Promise<RunRecord> {
  return h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], timeoutMs).catch(async (e: unknown) => {
    const r = await h.slipway.store.get(runId);
    console.log(
      JSON.stringify(
        r?.jobs.map((j) => [j.name, j.status]),
        null,
        1,
      ),
      h.logs.slice(-20).join('\n'),
    );
    throw e;
  });
}

async function jobOf(runId: string, name: string): Promise<JobRecord> {
  const j = await h.slipway.store.getJob(runId, name);
  if (!j) throw new Error(`run ${runId} has no job ${name}`);
  return j;
}

async function servicePods(c: ClusterClient): Promise<V1Pod[]> {
  const pods = await c.core.listNamespacedPod({ namespace: NS, labelSelector: `slipway.dev/service=${SERVICE}` });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp);
}

const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
/** The digest the node's engine ran, from the kubelet's imageID (docker-pullable://repo@sha256:…). */
const ranDigest = (p: V1Pod) => /@(sha256:[0-9a-f]{64})$/.exec(p.status?.containerStatuses?.[0]?.imageID ?? '')?.[1];

async function clusterIp(c: ClusterClient): Promise<string> {
  const svc = await c.core.readNamespacedService({ name: SERVICE, namespace: NS });
  const ip = svc.spec?.clusterIP;
  if (!ip) throw new Error(`service ${SERVICE} on ${c.name} has no ClusterIP`);
  return ip;
}

/** GET http://ip/ on a new connection each time (kube-proxy picks a pod per connection), with a deadline. */
function fetchOnce(ip: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: ip, port: 80, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${ip}:80 within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function approve(runId: string, job: string) {
  const res = await fetch(`${h.url}/api/runs/${runId}/jobs/${encodeURIComponent(job)}/approve`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'X-Gitlab-Approver-Token': approverToken, 'Content-Type': 'application/json' },
    body: '{}',
  });
  return { status: res.status, body: (await res.json()) as { started?: boolean; error?: string } };
}

let approverToken = '';
const sim = tb.kubelet === 'sim';
if (sim) console.warn('\n*** KUBELET SIMULATOR IN USE: pipeline.k8s.ts needs real pods behind a Service and is skipped ***\n');

beforeAll(async () => {
  if (sim) return;
  workDir = mkdtempSync(join(tmpdir(), 'slipway-pipeline-k8s-'));
  for (const name of ['a', 'b'] as const) clusters[name] = clusterFromKubeconfigFile(name, scopedKubeconfig(name));
  await Promise.all([
    ensureBaseImage(tb),
    ...Object.values(clusters).map(async (c) => {
      await c.core.createNamespace({ body: { metadata: { name: NS } } });
      await waitFor(
        `default service account in ${NS} on ${c.name}`,
        20_000,
        async () => (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: NS })).metadata?.name,
      );
    }),
  ]);
  h = await startHarness({
    env: {
      // node a's engine: inside the namespace, so it pushes to the registry the kubelets pull from.
      DOCKER_HOST: tb.dockerHost,
      SLIPWAY_REGISTRY: tb.registry,
      SLIPWAY_CLUSTERS: `a=${join(workDir, 'a.kubeconfig')},b=${join(workDir, 'b.kubeconfig')}`,
    },
  });
  project = await h.gitlab.addProject({ id: PROJECT_ID, pathWithNamespace: `team/${SERVICE}-${suffix}`, defaultBranch: 'main' });
  approverToken = h.gitlab.addUser(APPROVER).token;
  h.gitlab.setMember(PROJECT_ID, APPROVER.id, 40);
  await commitFiles(project.bareDir, 'main', { 'README.md': 'hi\n' }, 'Initial commit');
}, 120_000);

afterAll(async () => {
  if (sim) return;
  await h?.stop();
  // Namespaces go in the background (pods take 10–45 s to vanish on 1.20); nothing waits for them.
  await Promise.all(Object.values(clusters).map((c) => c.core.deleteNamespace({ name: NS }).catch(() => undefined)));
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe.skipIf(sim)('a merge flows through a running Slipway to real clusters', () => {
  let first: RunRecord;
  let prePods: V1Pod[] = [];

  it('tests, builds and pushes one image, deploys pre by itself, and serves it through the Service on a', async () => {
    const { sha, runId } = await merge(serviceFiles(`v1 ${suffix}`), 'Merge v1');
    first = await finished(runId, 120_000);
    expect(first.status.phase, first.status.reason).toBe('succeeded');
    expect(first.jobs.map((j) => [j.name, j.status.phase])).toEqual([
      ['unit', 'success'],
      ['image', 'success'],
      ['deploy:pre', 'success'],
      ['deploy:production', 'manual'],
    ]);
    expect(first.jobs.find((j) => j.name === 'deploy:production')?.status.reason).toBe(
      `waiting: 1 more approval by a Maintainer of ${project.pathWithNamespace}; authors excluded`,
    );
    const image = first.image;
    expect(image?.ref).toBe(`${tb.registry}/slipway-e2e/${SERVICE}-${suffix}@${image?.digest}`);

    // The kubelet on node a runs that digest, and the Service routes to it.
    prePods = await servicePods(clusters.a);
    expect(prePods).toHaveLength(2);
    for (const p of prePods) {
      expect(isReady(p)).toBe(true);
      expect(p.spec?.containers[0]?.image).toBe(image?.ref);
      expect(ranDigest(p)).toBe(image?.digest);
    }
    const ip = await clusterIp(clusters.a);
    const page = await waitFor(`pre's Service ${ip} to answer v1`, 20_000, async () => {
      const r = await fetchOnce(ip);
      return r.body.includes(`v1 ${suffix}`) ? r : undefined;
    });
    expect(page.status).toBe(200);
    expect(first.deployments).toEqual([
      expect.objectContaining({ environment: 'pre', target: 'kubernetes', image: image?.ref, url: `http://${SERVICE}.${NS}.svc/` }),
    ]);
    // Production is not touched before its approval.
    expect(await servicePods(clusters.b)).toEqual([]);

    // GitLab saw each job through, and pre as a deployment.
    const statuses = h.gitlab.statuses(PROJECT_ID, sha);
    for (const job of ['unit', 'image', 'deploy:pre']) {
      expect(statuses.filter((s) => s.name === `slipway/${job}`).map((s) => s.status)).toEqual(['pending', 'running', 'success']);
    }
    expect(h.gitlab.deployments(PROJECT_ID, 'pre')).toEqual([expect.objectContaining({ sha, status: 'success', statusHistory: ['running', 'success'] })]);
  }, 150_000);

  it('production waits for its approval, then runs the digest pre ran on cluster b, with no second build', async () => {
    const approved = await approve(first.id, 'deploy:production');
    expect(approved.status, approved.body.error).toBe(200);
    expect(approved.body.started).toBe(true);
    const done = await waitFor('deploy:production to finish', 90_000, async () => {
      const j = await jobOf(first.id, 'deploy:production');
      return ['success', 'failed', 'canceled'].includes(j.status.phase) ? j : undefined;
    });
    expect(done.status, done.status.reason).toMatchObject({ phase: 'success' });
    const run = await finished(first.id, 20_000);
    expect(run.status.phase).toBe('succeeded');
    // One image job in the run: production deployed what was built once, by digest.
    expect(run.jobs.filter((j) => j.kind === 'image')).toHaveLength(1);
    expect(run.deployments.find((d) => d.environment === 'production')?.image).toBe(first.image?.ref);

    const prod = await servicePods(clusters.b);
    expect(prod).toHaveLength(1);
    const digests = new Set([...prePods, ...prod].map(ranDigest));
    expect([...digests]).toEqual([first.image?.digest]);
    expect(prod[0]?.spec?.containers[0]?.image).toBe(first.image?.ref);
    // b's kubelet pulled it from the registry (nothing was built on node b), and b's Service routes to it.
    const ipB = await clusterIp(clusters.b);
    await waitFor(`production's Service ${ipB} on b to answer v1`, 20_000, async () =>
      (await fetchOnce(ipB)).body.includes(`v1 ${suffix}`) ? true : undefined,
    );

    const statuses = h.gitlab.statuses(PROJECT_ID, run.request.sha).filter((s) => s.name === 'slipway/deploy:production');
    expect(statuses.map((s) => s.status)).toEqual(['pending', 'running', 'success']);
    expect(h.gitlab.deployments(PROJECT_ID, 'production')).toEqual([
      expect.objectContaining({ sha: run.request.sha, status: 'success', statusHistory: ['running', 'success'] }),
    ]);
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  }, 120_000);

  it('a release that never gets ready is rolled back by itself; the old pods answer through the Service the whole time', async () => {
    const before = (await servicePods(clusters.a)).map((p) => p.metadata?.uid).sort();
    expect(before).toHaveLength(2);
    const ip = await clusterIp(clusters.a);
    // Poll the Service from before the merge until the run's verdict: every answer must be v1.
    const answers: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const r = await fetchOnce(ip).then(
          (x) => (x.status === 200 ? x.body.trim() : `HTTP ${x.status}`),
          (e: unknown) => `error: ${String(e)}`,
        );
        answers.push(r);
        await sleep(100);
      }
    })();
    let bad: RunRecord;
    let sha: string;
    let mr: number;
    try {
      const m = await merge(serviceFiles(`v2 ${suffix}`, false), 'Merge v2 without its readiness page');
      sha = m.sha;
      mr = m.iid;
      // The new pods must have existed (and been refused traffic) for the poll to mean anything.
      await waitFor('a pod of the bad release on a', 60_000, async () =>
        (await servicePods(clusters.a)).some((p) => !before.includes(p.metadata?.uid)) ? true : undefined,
      );
      bad = await finished(m.runId, 120_000);
    } finally {
      polling = false;
      await poller;
    }
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.filter((a) => a !== `v1 ${suffix}`)).toEqual([]);

    expect(bad.status.phase).toBe('failed');
    const deploy = bad.jobs.find((j) => j.name === 'deploy:pre');
    expect(deploy?.status.phase).toBe('failed');
    expect(deploy?.status.reason).toMatch(
      new RegExp(`^deploy to pre failed, rolled back to run ${first.id}: a: deployment "${SERVICE}" exceeded its progress deadline`),
    );
    expect(deploy?.status.reason).toContain('readiness probe');
    expect(bad.status.reason).toBe(deploy?.status.reason);
    expect(bad.jobs.find((j) => j.name === 'deploy:production')?.status.phase).toBe('skipped');
    // The same two pods serve v1, and the Deployment says run 1 again.
    expect(
      (await servicePods(clusters.a))
        .filter(isReady)
        .map((p) => p.metadata?.uid)
        .sort(),
    ).toEqual(before);
    const d = await clusters.a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
    expect(d.spec?.template?.spec?.containers[0]?.image).toBe(first.image?.ref);

    // GitLab: the commit status and the MR note say it was rolled back; the deployment failed.
    const status = h.gitlab
      .statuses(PROJECT_ID, sha)
      .filter((s) => s.name === 'slipway/deploy:pre')
      .at(-1);
    expect(status).toMatchObject({ status: 'failed', description: expect.stringContaining(`rolled back to run ${first.id}`) });
    await waitFor('the MR note to say rolled back', 10_000, async () =>
      h.gitlab.notes(PROJECT_ID, mr)[0]?.body.includes('rolled back to run') ? true : undefined,
    );
    expect(h.gitlab.deployments(PROJECT_ID, 'pre').filter((x) => x.sha === sha)).toEqual([expect.objectContaining({ status: 'failed' })]);
  }, 150_000);

  it('two merges racing for pre: one deploy at a time, the newer release ends up live, the older is never applied after it', async () => {
    // Two merges back to back: two runs build side by side and their deploys meet at pre's lock.
    const older = await merge(serviceFiles(`v3 ${suffix}`), 'Merge v3');
    const newer = await merge(serviceFiles(`v4 ${suffix}`), 'Merge v4');
    const [o, n] = await Promise.all([finished(older.runId, 180_000), finished(newer.runId, 180_000)]);
    const oPre = o.jobs.find((j) => j.name === 'deploy:pre');
    const nPre = n.jobs.find((j) => j.name === 'deploy:pre');
    expect(nPre?.status, nPre?.status.reason).toMatchObject({ phase: 'success' });
    if (oPre?.status.phase === 'canceled') {
      // Its deploy came after the newer one's: superseded, nothing applied.
      expect(oPre.status.reason).toMatch(new RegExp(`^superseded: run ${n.id} \\(newer`));
      expect(o.deployments.filter((d) => d.environment === 'pre')).toEqual([]);
    } else {
      // Its deploy came first: it went live, and the newer one replaced it afterwards.
      expect(oPre?.status, oPre?.status.reason).toMatchObject({ phase: 'success' });
      const at = (r: RunRecord) => Date.parse(r.deployments.find((d) => d.environment === 'pre')?.at ?? '');
      expect(at(o)).toBeLessThan(at(n));
    }
    // What runs is the newer run's image, and the Service answers with it.
    const d = await clusters.a.apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
    expect(d.spec?.template?.spec?.containers[0]?.image).toBe(n.image?.ref);
    const ip = await clusterIp(clusters.a);
    await waitFor(`pre's Service ${ip} to answer v4`, 30_000, async () => ((await fetchOnce(ip)).body.includes(`v4 ${suffix}`) ? true : undefined));
  }, 240_000);
});
