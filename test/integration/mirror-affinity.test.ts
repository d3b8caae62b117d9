import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Two worker nodes (two workspaces) on one Redis: a project's builds go to the node holding its
// mirror. Without the preference, five runs land on one node by chance once in sixteen.
describe('warm mirror affinity between worker nodes', () => {
  let a: Harness;
  let b: Harness;
  const shared = {
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390',
    SLIPWAY_REDIS_PREFIX: `affinity-${randomBytes(4).toString('hex')}`,
    // The suite runs on two Node versions at once on two shared cores: a job can sit in the queue
    // for seconds. This test is about the preference; the age cut-off that prevents starvation is
    // tested on its own (mirror-affinity-rules.test.ts).
    SLIPWAY_AFFINITY_WAIT_MS: '60000',
  };

  beforeAll(async () => {
    a = await startHarness({ env: shared });
    b = await startHarness({ roles: ['build'], env: { ...shared, GITLAB_URL: a.gitlab.url, GITLAB_TOKEN: a.gitlab.token } });
  });
  afterAll(async () => {
    await b.stop();
    await a.stop();
  });

  it('keeps a project on the node that holds its mirror', async () => {
    const projectId = 16000 + Math.floor(Math.random() * 1000);
    const project = await a.gitlab.addProject({ id: projectId, pathWithNamespace: `team/warm-${projectId}`, defaultBranch: 'main' });
    for (let i = 0; i < 5; i++) {
      const sha = await commitFiles(
        project.bareDir,
        'main',
        { '.slipway.yml': 'unit:\n  image: slipway/busybox:1\n  script: [echo ok]\n', 'n.txt': `${i}\n` },
        `commit ${i}`,
      );
      const body = fixture('push-hook.json') as Record<string, unknown>;
      Object.assign(body, {
        ref: 'refs/heads/main',
        after: sha,
        checkout_sha: sha,
        project: { ...(body['project'] as object), id: projectId, path_with_namespace: project.pathWithNamespace },
      });
      const res = await deliver(a.url, 'Push Hook', body, WEBHOOK_SECRET);
      const run = await a.waitForRun(String(res.json['runId']));
      expect(run.status, JSON.stringify(run.status)).toMatchObject({ phase: 'succeeded' });
    }
    const mirror = (h: Harness) => existsSync(path.join(h.config.workspaceDir, 'mirrors', `team+warm-${projectId}.git`));
    expect([mirror(a), mirror(b)].filter(Boolean)).toHaveLength(1);
  });
});
