import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/registry-client.js';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { startRegistryFaultProxy, type RegistryFaultProxy } from '../helpers/registry-fault-proxy.js';
import { dockerFromEnv, registryFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Promotion between two real registries through a running Slipway: images are pushed to registry A
// (SLIPWAY_REGISTRY), pre deploys from A, production (after an approval) from the registry its
// `registry:` names. The Docker host target pulls each release from there.
const A = registryFromEnv();
const B = process.env['SLIPWAY_REGISTRY2'] ?? '127.0.0.1:5051';
const PROD_PASSWORD = 'prod-robot-password-7f3a';
const FLAKY_PASSWORD = 'flaky-robot-password-91c2';

describe('promotion between registries on the way to production', () => {
  let h: Harness;
  let proxy: RegistryFaultProxy;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `promo-${suffix}`;
  const path_ = `team/${service}`;
  const projectId = 26000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(3);
  const annToken = { value: '' };
  let iid = 0;

  const pipeline = (registry: string) =>
    [
      `build: { image: ${path_} }`,
      'deploy:',
      `  service: ${service}`,
      '  environments:',
      `    pre: { port: ${port}, health: /healthz, timeout: 30s }`,
      `    production: { port: ${port + 100}, health: /healthz, timeout: 30s, registry: ${registry} }`,
      '',
    ].join('\n');

  const merge = async (registry: string, content: string) => {
    iid += 1;
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': pipeline(registry),
        Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
        'www/healthz': 'ok\n',
        'www/index.html': `<h1>${content}</h1>\n`,
      },
      `Merge ${iid}`,
    );
    h.gitlab.addMergeRequest(projectId, { iid, authorId: 204 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: path_, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return settled(String(res.json['runId']));
  };
  /** The run once pre is deployed and production waits for its approval. */
  const settled = async (runId: string): Promise<RunRecord> => {
    const run = await h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], 90_000);
    expect(run.jobs.map((j) => [j.name, j.status.phase])).toEqual([
      ['image', 'success'],
      ['deploy:pre', 'success'],
      ['deploy:production', 'manual'],
    ]);
    return run;
  };
  const approveProduction = async (runId: string) => {
    const res = await fetch(`${h.url}/api/runs/${runId}/jobs/deploy%3Aproduction/approve`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'X-Gitlab-Approver-Token': annToken.value, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(200);
  };
  const production = async (runId: string): Promise<JobRecord> => {
    let job: JobRecord | undefined;
    await eventually(async () => {
      job = await h.slipway.store.getJob(runId, 'deploy:production');
      expect(['success', 'failed']).toContain(job?.status.phase);
    }, 90_000);
    return job as JobRecord;
  };
  const logOf = async (runId: string) =>
    (await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${runId}/log`)).body.lines
      .filter((l) => l.job === 'deploy:production')
      .map((l) => l.line);
  /** Config and layers of the image as registry A serves it. */
  const blobsOf = async (digest: string) => {
    const m = JSON.parse((await new RegistryClient({ registry: A }).getManifest(path_, digest)).bytes.toString()) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    return [m.config.digest, ...m.layers.map((l) => l.digest)].sort();
  };
  const liveProduction = async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ filters: { label: [`io.slipway.service=${service}`, 'io.slipway.environment=production'] } });
    return mine.map((c) => ({ image: c.Image, release: c.Labels['io.slipway.release'] }));
  };

  beforeAll(async () => {
    proxy = await startRegistryFaultProxy(B, { username: 'robot$flaky', password: FLAKY_PASSWORD });
    h = await startHarness({
      env: {
        SLIPWAY_REGISTRY_PROD_HOST: B,
        SLIPWAY_REGISTRY_PROD_USERNAME: 'robot$prod',
        SLIPWAY_REGISTRY_PROD_PASSWORD: PROD_PASSWORD,
        SLIPWAY_REGISTRY_REPLICA_HOST: B,
        SLIPWAY_REGISTRY_REPLICA_PROMOTE: 'false',
        SLIPWAY_REGISTRY_FLAKY_HOST: proxy.host,
        SLIPWAY_REGISTRY_FLAKY_USERNAME: 'robot$flaky',
        SLIPWAY_REGISTRY_FLAKY_PASSWORD: FLAKY_PASSWORD,
        SLIPWAY_REGISTRY_STAGE_HOST: A,
        SLIPWAY_REGISTRY_STAGE_PROJECT: `release-${suffix}`,
        SLIPWAY_PROMOTE_ATTEMPTS: '3',
        SLIPWAY_PROMOTE_BACKOFF_MS: '2000',
      },
    });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    annToken.value = h.gitlab.addUser({ id: 201, username: 'ann' }).token;
    h.gitlab.setMember(projectId, 201, 40);
    h.gitlab.addUser({ id: 204, username: 'carol' });
    h.gitlab.setMember(projectId, 204, 40);
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h?.stop();
    await proxy?.close();
  });

  let first: RunRecord;
  let second: RunRecord;

  it('pre deploys from registry A; production, once approved, from registry B with the same digest, every blob copied', async () => {
    first = await merge('prod', `v1 ${suffix}`);
    const digest = first.image?.digest ?? '';
    expect(first.image?.repository).toBe(`${A}/${path_}`);
    expect(first.deployments.find((d) => d.environment === 'pre')?.image).toBe(`${A}/${path_}@${digest}`);
    // Nothing reached registry B before the approval.
    expect(await new RegistryClient({ registry: B }).headManifest(path_, digest)).toBeUndefined();

    await approveProduction(first.id);
    const job = await production(first.id);
    expect(job.status).toMatchObject({ phase: 'success' });
    const run = (await h.slipway.store.get(first.id)) as RunRecord;
    const prod = run.deployments.find((d) => d.environment === 'production');
    expect(prod?.image).toBe(`${B}/${path_}@${digest}`);
    expect(await (await fetch(prod?.url ?? '')).text()).toContain(`v1 ${suffix}`);
    // The container runs the image pulled from B, by digest.
    expect(await liveProduction()).toEqual([{ image: `${B}/${path_}@${digest}`, release: first.id }]);
    expect((await new RegistryClient({ registry: B }).headManifest(path_, digest))?.digest).toBe(digest);

    const blobs = await blobsOf(digest);
    expect(job.promotion).toMatchObject({
      registry: 'prod',
      host: B,
      repository: path_,
      digest,
      ref: `${B}/${path_}@${digest}`,
      from: `${A}/${path_}@${digest}`,
      mounted: [],
      skipped: [],
      attempts: 1,
    });
    expect([...(job.promotion?.copied ?? [])].sort()).toEqual(blobs);
    const log = await logOf(first.id);
    expect(log).toContain(`promoting ${A}/${path_}@${digest} to registry prod (${B}) as ${path_}`);
    expect(log).toContain(`registry prod (${B}) has ${path_}@${digest}: deploying ${B}/${path_}@${digest}`);
    // The robot's password is in no log, run record or job log.
    const everything = JSON.stringify([run, log, h.logs]);
    expect(everything).not.toContain(PROD_PASSWORD);
  });

  it('copies only the blobs registry B lacks, and nothing when the same image is promoted again', async () => {
    second = await merge('prod', `v2 ${suffix}`);
    await approveProduction(second.id);
    const job = await production(second.id);
    expect(job.status.phase).toBe('success');
    const old = await blobsOf(first.image?.digest ?? '');
    const now = await blobsOf(second.image?.digest ?? '');
    const shared = now.filter((b) => old.includes(b));
    expect(shared.length).toBeGreaterThan(0); // the base image's layers
    expect([...(job.promotion?.skipped ?? [])].sort()).toEqual(shared);
    expect([...(job.promotion?.copied ?? [])].sort()).toEqual(now.filter((b) => !old.includes(b)));

    // A manual run of the same commit reuses the image (same digest): its promotion copies nothing.
    const res = await fetch(`${h.url}/api/runs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ project: projectId, ref: 'main' }),
    });
    expect(res.status).toBe(201);
    const again = await settled(String(((await res.json()) as { runId: string }).runId));
    expect(again.image?.digest).toBe(second.image?.digest);
    await approveProduction(again.id);
    const rerun = await production(again.id);
    expect(rerun.status.phase).toBe('success');
    expect(rerun.promotion?.copied).toEqual([]);
    expect([...(rerun.promotion?.skipped ?? [])].sort()).toEqual(now);
    expect(await liveProduction()).toEqual([{ image: `${B}/${path_}@${second.image?.digest}`, release: again.id }]);
  });

  it('refuses a digest missing from the environment registry before anything is applied', async () => {
    const before = await liveProduction();
    const run = await merge('replica', `v3 ${suffix}`);
    const digest = run.image?.digest ?? '';
    await approveProduction(run.id);
    const job = await production(run.id);
    expect(job.status).toMatchObject({
      phase: 'failed',
      reason: `registry replica (${B}) has no ${path_}@${digest}: production deploys only an image present in its registry (promotion into it is off); nothing was deployed`,
    });
    expect(job.promotion).toBeUndefined();
    expect(await new RegistryClient({ registry: B }).headManifest(path_, digest)).toBeUndefined();
    expect(await liveProduction()).toEqual(before);
    expect((await h.slipway.store.get(run.id))?.deployments.map((d) => d.environment)).toEqual(['pre']);
    // The reporter posts commit statuses in the background.
    await eventually(() =>
      expect(
        h.gitlab
          .statuses(projectId, run.request.sha)
          .filter((s) => s.name === 'slipway/deploy:production')
          .at(-1)?.status,
      ).toBe('failed'),
    );
  });

  it('retries a copy the registry keeps failing, then fails the deploy with the reason; nothing is deployed', async () => {
    const before = await liveProduction();
    proxy.failing = true;
    try {
      const run = await merge('flaky', `v4 ${suffix}`);
      const digest = run.image?.digest ?? '';
      await approveProduction(run.id);
      const job = await production(run.id);
      expect(job.status.phase).toBe('failed');
      expect(job.status.reason).toMatch(
        new RegExp(
          `^promotion of ${esc(`${A}/${path_}@${digest}`)} to registry flaky \\(${esc(proxy.host)}\\) failed: registry ${esc(proxy.host)}: .+ answered 500 after 4 attempts; gave up after 3 promotion attempts; nothing was deployed$`,
        ),
      );
      const log = await logOf(run.id);
      expect(log.filter((l) => l.startsWith('promotion attempt '))).toEqual([
        expect.stringMatching(/^promotion attempt 1 of 3 failed: .+ answered 500 .+; trying again in \d+\.\d s$/),
        expect.stringMatching(/^promotion attempt 2 of 3 failed: .+ answered 500 .+; trying again in \d+\.\d s$/),
      ]);
      expect(await liveProduction()).toEqual(before);
      expect((await h.slipway.store.get(run.id))?.deployments.map((d) => d.environment)).toEqual(['pre']);
    } finally {
      proxy.failing = false;
    }
  });

  it('a copy that fails for a while succeeds on a later attempt, with the credentials only in a header', async () => {
    const run = await merge('flaky', `v5 ${suffix}`);
    const digest = run.image?.digest ?? '';
    proxy.failing = true;
    await approveProduction(run.id);
    // The registry recovers once the first attempt has failed and been reported.
    await eventually(async () => expect((await logOf(run.id)).some((l) => l.startsWith('promotion attempt 1 of 3 failed'))).toBe(true), 60_000);
    proxy.failing = false;
    const job = await production(run.id);
    expect(job.status).toMatchObject({ phase: 'success' });
    expect(job.promotion).toMatchObject({ registry: 'flaky', host: proxy.host, digest, attempts: 2 });
    expect(await liveProduction()).toEqual([{ image: `${proxy.host}/${path_}@${digest}`, release: run.id }]);
    const basic = `Basic ${Buffer.from(`robot$flaky:${FLAKY_PASSWORD}`).toString('base64')}`;
    expect(proxy.writeAuthorizations.length).toBeGreaterThan(0);
    expect(new Set(proxy.writeAuthorizations)).toEqual(new Set([basic]));
    const everything = JSON.stringify([await h.slipway.store.get(run.id), await logOf(run.id), h.logs]);
    expect(everything).not.toContain(FLAKY_PASSWORD);
    expect(everything).not.toContain(basic.slice(6));
  });

  it('mounts the blobs instead of copying them into another Harbor project of the same registry', async () => {
    const run = await merge('stage', `v6 ${suffix}`);
    const digest = run.image?.digest ?? '';
    await approveProduction(run.id);
    const job = await production(run.id);
    expect(job.status.phase).toBe('success');
    const repository = `release-${suffix}/${service}`;
    expect(job.promotion).toMatchObject({ registry: 'stage', host: A, repository, copied: [], skipped: [] });
    expect([...(job.promotion?.mounted ?? [])].sort()).toEqual(await blobsOf(digest));
    expect(await liveProduction()).toEqual([{ image: `${A}/${repository}@${digest}`, release: run.id }]);
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
