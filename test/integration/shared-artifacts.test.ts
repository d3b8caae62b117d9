import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/registry-client.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Build nodes with separate workspaces on one Redis and the real registry: a job's artifacts and
// caches reach the next job wherever it runs. Each job is forced onto the node we want by running
// one build node at a time: a node is stopped while a job runs on it (stop lets the job finish,
// then takes nothing new), so the jobs that job unblocks wait for the next node.
describe('artifacts and caches shared between build nodes through the registry', () => {
  let coordinator: Harness;
  const nodes: Harness[] = [];
  let project: FakeProject;
  const projectId = 17000 + Math.floor(Math.random() * 1000);
  const suffix = randomBytes(4).toString('hex');
  const storeRepository = `slipway-test/store-${suffix}`;
  const registry = process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050';
  const shared = {
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390',
    SLIPWAY_REDIS_PREFIX: `store-${suffix}`,
    SLIPWAY_STORE_REPOSITORY: storeRepository,
    // No waiting for the node that holds the mirror: the node that is up takes the job.
    SLIPWAY_AFFINITY_WAIT_MS: '0',
    // One job at a time per node: a stopping node has no free slot to take the next job with.
    SLIPWAY_BUILD_CONCURRENCY: '1',
  };

  const pipeline = [
    'make:',
    '  image: slipway/busybox:1',
    '  script:',
    '    - sleep 3',
    '    - mkdir -p dist vendor',
    '    - echo "made by run $SLIPWAY_PIPELINE_ID" > dist/out.txt',
    '    - if [ -f vendor/warm ]; then echo "vendor cache was warm"; fi',
    '    - touch vendor/warm',
    '  cache: { key: { files: [deps.lock], prefix: vendor }, paths: [vendor/] }',
    '  artifacts: { paths: [dist/] }',
    'use:',
    '  image: slipway/busybox:1',
    '  needs: [make]',
    '  script: [cat dist/out.txt]',
    '',
  ].join('\n');

  const startNode = async (): Promise<Harness> => {
    const node = await startHarness({ roles: ['build'], env: { ...shared, GITLAB_URL: coordinator.gitlab.url, GITLAB_TOKEN: coordinator.gitlab.token } });
    nodes.push(node);
    return node;
  };
  const stopNode = async (node: Harness): Promise<void> => {
    nodes.splice(nodes.indexOf(node), 1);
    await node.stop();
  };
  let commits = 0;
  const push = async (): Promise<string> => {
    const sha = await commitFiles(
      project.bareDir,
      'main',
      { '.slipway.yml': pipeline, 'deps.lock': 'left-pad 1.3.0\n', 'n.txt': `${commits++}\n` },
      `commit ${commits}`,
    );
    const body = fixture('push-hook.json') as Record<string, unknown>;
    Object.assign(body, {
      ref: 'refs/heads/main',
      after: sha,
      checkout_sha: sha,
      project: { ...(body['project'] as object), id: projectId, path_with_namespace: project.pathWithNamespace },
    });
    const res = await deliver(coordinator.url, 'Push Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return String(res.json['runId']);
  };
  const jobOf = async (runId: string, name: string) => (await coordinator.slipway.store.get(runId))?.jobs.find((j) => j.name === name);
  const waitForJob = async (runId: string, name: string, phases: string[]) => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const job = await jobOf(runId, name);
      if (job && phases.includes(job.status.phase)) return job;
      if (Date.now() > deadline) throw new Error(`job ${name} of run ${runId} still ${job?.status.phase ?? 'missing'} (${job?.status.reason ?? ''})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const logOf = async (run: RunRecord, job: string) =>
    (await coordinator.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`)).body.lines
      .filter((l) => l.job === job)
      .map((l) => l.line);

  /** Runs `make` of a new run on a fresh node, stops that node, and returns the run id with `use` still waiting. */
  const makeOnOneNode = async (): Promise<string> => {
    const node = await startNode();
    const runId = await push();
    await waitForJob(runId, 'make', ['running']);
    await stopNode(node);
    expect((await jobOf(runId, 'make'))?.status.phase, node.logs.join('\n')).toBe('success');
    // Nothing has taken `use`: no build node is up.
    expect(['pending', 'queued']).toContain((await jobOf(runId, 'use'))?.status.phase);
    return runId;
  };

  beforeAll(async () => {
    coordinator = await startHarness({ roles: ['http', 'planner', 'deploy'], env: shared });
    project = await coordinator.gitlab.addProject({ id: projectId, pathWithNamespace: `team/shared-${projectId}`, defaultBranch: 'main' });
  });
  // A test that failed half-way leaves no node up to take the next test's jobs.
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.stop();
  });
  afterAll(async () => {
    await coordinator?.stop();
  });

  it("gives a job on node B the artifacts its need made on node A, and restores A's cache on B", async () => {
    const first = await makeOnOneNode();
    const nodeB = await startNode();
    const run1 = await coordinator.waitForRun(first);
    expect(run1.status.phase, JSON.stringify(run1.jobs.map((j) => [j.name, j.status]))).toBe('succeeded');
    expect(await logOf(run1, 'use')).toContain(`made by run ${first}`);
    const made = run1.jobs.find((j) => j.name === 'make')?.artifacts;
    expect(made?.reference).toMatch(
      new RegExp(`^${registry.replace(/[.]/g, '\\.')}/${storeRepository}/${projectId}/artifacts:run-${first}-[0-9a-f]{16}@sha256:[0-9a-f]{64}$`),
    );
    expect(made?.expiresAt).toBeDefined();

    // The next run's `make` runs on B: the cache A saved comes from the registry.
    const run2 = await coordinator.waitForRun(await push());
    expect(run2.status.phase).toBe('succeeded');
    const makeLog = await logOf(run2, 'make');
    expect(makeLog.some((l) => l.startsWith('cache hit for key vendor-'))).toBe(true);
    expect(makeLog).toContain('vendor cache was warm');
    await stopNode(nodeB);
  });

  it('fails a job whose needed artifacts were deleted, naming the job, run, entry and registry answer', async () => {
    const runId = await makeOnOneNode();
    const made = (await jobOf(runId, 'make'))?.artifacts;
    if (!made) throw new Error('make recorded no artifacts');
    const client = new RegistryClient({ registry });
    expect(await client.deleteManifest(made.repository, made.digest)).toBe(true);

    await startNode();
    const run = await coordinator.waitForRun(runId);
    expect(run.status.phase).toBe('failed');
    const use = run.jobs.find((j) => j.name === 'use');
    expect(use?.status.phase).toBe('failed');
    expect(use?.status.reason).toContain(`cannot fetch the artifacts of job 'make' (run ${runId}) from ${made.reference}`);
    expect(use?.status.reason).toMatch(/answered 404: MANIFEST_UNKNOWN/);
  });
});
