// What the rollback scenario (rollback.k8s.ts) and its benchmark (bench/k8s-rollback.ts) share: a
// namespace of their own on cluster a, two images pushed by digest, a redis-server of their own in
// the test bed's network namespace, and Slipway's release history and rollback job wired to them
// the way the deploy worker wires them (roles/deploy.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { clusterFromKubeconfigFile, type ClusterClient } from '../../src/kubernetes/cluster.js';
import { createKubernetesTarget } from '../../src/kubernetes/kubernetes-target.js';
import { renderRelease } from '../../src/kubernetes/templates.js';
import { createLogger } from '../../src/logging/logger.js';
import { createMasker } from '../../src/logging/mask.js';
import { createReleaseLedger } from '../../src/releases/ledger.js';
import { ReleaseHistories } from '../../src/releases/release-history.js';
import type { RollbackContext } from '../../src/releases/run-rollback-job.js';
import { runKeys } from '../../src/runs/keys.js';
import { startRedisProcess, type RedisProcess } from '../helpers/redis-process.js';
import { buildWebImage } from './image.js';
import { waitFor } from './kube.js';
import type { Testbed } from './testbed-env.js';

export const SERVICE = 'web';
export const ENVIRONMENT = 'production';

export interface RollbackBed {
  ns: string;
  /** Cluster a's kubeconfig, scoped to the namespace (for kubectl). */
  kubeconfig: string;
  a: ClusterClient;
  target: ReturnType<typeof createKubernetesTarget>;
  /** repository@sha256:… of each image, as the build worker records them. */
  images: { v1: string; v2: string };
  histories: ReleaseHistories;
  ledger: ReturnType<typeof createReleaseLedger>;
  ctx: RollbackContext;
  /** A release of `image` with the environment's config, rendered from the built-in templates as the deploy job renders it. */
  release(runId: string, image: string, greeting: string): Promise<ReleaseSpec>;
  close(): Promise<void>;
}

/** The registry's digest for a pushed tag (Registry v2 HEAD, as Slipway's push records it). */
async function byDigest(ref: string): Promise<string> {
  const slash = ref.indexOf('/');
  const [repo, tag] = ref.slice(slash + 1).split(':') as [string, string];
  const res = await fetch(`http://${ref.slice(0, slash)}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    signal: AbortSignal.timeout(10_000),
  });
  const digest = res.headers.get('docker-content-digest');
  if (!digest) throw new Error(`no digest for ${ref}: HTTP ${res.status}`);
  return `${ref.slice(0, ref.lastIndexOf(':'))}@${digest}`;
}

export async function openRollbackBed(tb: Testbed, name: string): Promise<RollbackBed> {
  const ns = `${name}-${Date.now().toString(36)}`;
  const kc = parse(readFileSync(tb.clusters.a.kubeconfigPath, 'utf8')) as { contexts: { context: { namespace?: string } }[] };
  for (const c of kc.contexts) c.context.namespace = ns;
  const file = join(mkdtempSync(join(tmpdir(), `slipway-${name}-`)), 'a.kubeconfig');
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  const a = clusterFromKubeconfigFile('a', file);
  const build = { dockerHost: tb.dockerHost, registry: tb.registry, busybox: tb.busybox };
  const tag = randomBytes(3).toString('hex');
  const [v1, v2] = await Promise.all([buildWebImage(build, `${name}-v1-${tag}`, `${name} v1`), buildWebImage(build, `${name}-v2-${tag}`, `${name} v2`)]);
  const images = { v1: await byDigest(v1), v2: await byDigest(v2) };
  await a.core.createNamespace({ body: { metadata: { name: ns } } });
  await waitFor(
    `default service account in ${ns}`,
    20_000,
    async () => (await a.core.readNamespacedServiceAccount({ name: 'default', namespace: ns })).metadata?.name,
  );

  let redisProcess: RedisProcess | undefined;
  let redis: Redis | undefined;
  try {
    redisProcess = await startRedisProcess();
    redis = new Redis(redisProcess.url, { maxRetriesPerRequest: 3 });
  } catch (e) {
    await a.core.deleteNamespace({ name: ns }).catch(() => undefined);
    throw e;
  }
  const histories = new ReleaseHistories(redis, randomBytes(32), 'slipway');
  const target = createKubernetesTarget(new Map([['a', a]]));
  const ctx: RollbackContext = {
    targets: { kubernetes: target },
    redis,
    logger: createLogger({ level: 'silent', mask: createMasker([]) }),
    store: { keys: runKeys('slipway') },
  };
  return {
    ns,
    kubeconfig: file,
    a,
    target,
    images,
    histories,
    ledger: createReleaseLedger(histories),
    ctx,
    async release(runId, image, greeting) {
      const rendered = await renderRelease(
        'kubernetes',
        {
          identity: { service: SERVICE, environment: ENVIRONMENT, commitSha: 'c'.repeat(40), runId, runUrl: `http://slipway.test/runs/${runId}` },
          image,
          port: 8080,
          healthPath: '/',
          variables: {
            REPLICAS: '2',
            PROGRESS_DEADLINE_SECONDS: '30',
            TERMINATION_GRACE_SECONDS: '1',
            READINESS_PERIOD_SECONDS: '1',
            CPU_REQUEST: '10m',
            MEMORY_REQUEST: '16Mi',
            GREETING: greeting,
          },
          secrets: {},
        },
        { file: () => Promise.resolve(null), dir: () => Promise.resolve(null) },
      );
      if (!rendered.ok) throw new Error(JSON.stringify(rendered.problems));
      return {
        service: SERVICE,
        environment: ENVIRONMENT,
        image,
        env: {},
        port: 8080,
        healthPath: '/',
        runId,
        kubernetes: { manifests: rendered.manifests.map((m) => m.object), clusters: ['a'] },
      };
    },
    async close() {
      await a.core.deleteNamespace({ name: ns }).catch(() => undefined);
      redis?.disconnect();
      await redisProcess?.stop();
    },
  };
}
