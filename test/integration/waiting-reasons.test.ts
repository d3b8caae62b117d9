import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeIdOf } from '../../src/git/mirror-affinity.js';
import type { RunRecord } from '../../src/runs/types.js';
import type { Role } from '../../src/slipway.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10: every "waiting…" reason a user can see, read through the API as the run page does.
// The roles start one after another on one Redis, so each stage of a run stays visible: no
// planner yet, then no build worker yet, then two build nodes for the mirror preference.
// (Limits, resource groups and image reuse: when-and-resource-groups.test.ts; the approval gate:
// pipeline-features.test.ts; the environment lock: the deploy tests.)
describe('what a waiting run and its jobs say', () => {
  const prefix = `waiting-${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390';
  const shared = { REDIS_URL: redisUrl, SLIPWAY_REDIS_PREFIX: prefix };
  const started: Harness[] = [];
  let http: Harness;
  let builder: Harness | undefined;
  const start = async (roles: readonly Role[], env: Record<string, string> = {}) => {
    const h = await startHarness({ roles, env: { ...shared, GITLAB_URL: http.gitlab.url, GITLAB_TOKEN: http.gitlab.token, ...env } });
    started.push(h);
    return h;
  };
  const projectId = 18000 + Math.floor(Math.random() * 1000);
  let project: FakeProject;

  const push = async (p: FakeProject, id: number, branch: string, files: Record<string, string>) => {
    const sha = await commitFiles(p.bareDir, branch, files, `change on ${branch}`);
    const res = await deliver(http.url, 'Push Hook', pushEvent({ projectId: id, path: p.pathWithNamespace, sha, branch }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return String(res.json['runId']);
  };
  const runOf = async (runId: string) => {
    const res = await http.api<RunRecord>(`/api/runs/${runId}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const statusOf = (run: RunRecord) => ({
    run: [run.status.phase, run.status.reason],
    ...Object.fromEntries(run.jobs.map((j) => [j.name, [j.status.phase, j.status.reason]])),
  });

  beforeAll(async () => {
    http = await startHarness({ roles: ['http'], env: shared });
    started.push(http);
    project = await http.gitlab.addProject({ id: projectId, pathWithNamespace: `team/waiting-${projectId}`, defaultBranch: 'main' });
  });
  afterAll(async () => {
    // Build nodes first, the HTTP one (whose GitLab the others use) last.
    for (const h of started.reverse()) await h.stop();
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('each stage of a run says what it waits for, until it ends waiting only for the manual job', async () => {
    const pipeline = [
      'first:',
      '  image: slipway/busybox:1',
      '  script: [echo first]',
      'second:',
      '  image: slipway/busybox:1',
      '  needs: [first]',
      '  script: [echo second]',
      'gate:',
      '  image: slipway/busybox:1',
      '  when: manual',
      '  needs: []',
      '  script: [echo gate]',
      'after-gate:',
      '  image: slipway/busybox:1',
      '  needs: [gate]',
      '  script: [echo after]',
      '',
    ].join('\n');
    const runId = await push(project, projectId, 'stages', { '.slipway.yml': pipeline });

    // Only the HTTP role is up: the event is stored and waits for a planner.
    expect((await runOf(runId)).status).toMatchObject({ phase: 'received', reason: 'waiting for the planner' });

    // A planner, no build worker: ready jobs wait for a worker, the others for what they need.
    await start(['planner']);
    // One scheduler pass settles every job; read until it has.
    await eventually(
      async () =>
        expect(statusOf(await runOf(runId))).toEqual({
          run: ['running', '4 jobs planned'],
          first: ['queued', 'waiting for a worker'],
          second: ['pending', 'waiting for first'],
          gate: ['manual', `manual job: waiting for a Developer of ${project.pathWithNamespace} to start it`],
          'after-gate': ['pending', 'waiting for manual job gate'],
        }),
      30_000,
    );

    // A build worker: what can run runs; the run ends saying which manual job is left.
    builder = await start(['build']);
    await eventually(async () => expect((await runOf(runId)).status.phase).toBe('succeeded'), 60_000);
    const done = await runOf(runId);
    expect(statusOf(done)).toMatchObject({
      run: ['succeeded', 'all jobs passed; waiting: gate'],
      gate: ['manual', `manual job: waiting for a Developer of ${project.pathWithNamespace} to start it`],
      'after-gate': ['pending', 'waiting for manual job gate'],
    });
  });

  it('a job picked up by a node without the mirror waits for the node that holds it, and says which', async () => {
    // Two build nodes (two workspaces), one job at a time each, so while the holder is busy the
    // other node gets the next job. The preference is bounded (SLIPWAY_AFFINITY_WAIT_MS).
    const nodes = [await start(['build'], { SLIPWAY_BUILD_CONCURRENCY: '1', SLIPWAY_AFFINITY_WAIT_MS: '4000' })];
    nodes.push(await start(['build'], { SLIPWAY_BUILD_CONCURRENCY: '1', SLIPWAY_AFFINITY_WAIT_MS: '4000' }));
    // The first test's build node stops taking jobs: only the two nodes above build this project.
    if (builder) {
      await builder.stop();
      started.splice(started.indexOf(builder), 1);
    }

    const id = projectId + 1000;
    const p = await http.gitlab.addProject({ id, pathWithNamespace: `team/affinity-${id}`, defaultBranch: 'main' });
    const slow = await push(p, id, 'slow', { '.slipway.yml': 'slow:\n  image: slipway/busybox:1\n  script: [sleep 8]\n' });
    await eventually(async () => expect((await runOf(slow)).jobs[0]?.status.phase).toBe('running'), 30_000);
    const mirror = (h: Harness) => existsSync(path.join(h.config.workspaceDir, 'mirrors', `team+affinity-${id}.git`));
    // The node running it fetched the project's mirror: it holds it now.
    const holder = await eventually(() => {
      expect(nodes.filter(mirror)).toHaveLength(1);
      return nodes.find(mirror);
    }, 30_000);

    const quick = await push(p, id, 'quick', { '.slipway.yml': 'quick:\n  image: slipway/busybox:1\n  script: [echo quick]\n' });
    const reason = `waiting: preferring worker ${nodeIdOf(holder?.config.workspaceDir ?? '')}, which holds the mirror`;
    await eventually(async () => expect((await runOf(quick)).jobs[0]?.status).toMatchObject({ phase: 'queued', reason }), 30_000);
    for (const r of [slow, quick]) await eventually(async () => expect((await runOf(r)).status.phase).toBe('succeeded'), 60_000);
  });
});
