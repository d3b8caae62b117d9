import { expect } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from './gitlab-delivery.js';
import { WEBHOOK_SECRET, type Harness } from './slipway-harness.js';

/** The staging deploy job of the pipeline below. */
export const PAUSED_CANARY_JOB = 'deploy:staging';

/** A service on the Docker host behind the front proxy, whose staging canary pauses at 10% for an approval. */
export function pausedCanaryPipeline(service: string, port: number, proxyPort: number): string {
  return [
    `build: { image: demo/${service} }`,
    'deploy:',
    `  service: ${service}`,
    '  environments:',
    '    staging:',
    `      port: ${port}`,
    '      health: /healthz',
    '      timeout: 30s',
    '      approval: { min_access: maintainer }',
    `      front_proxy: { port: ${proxyPort} }`,
    '      strategy: { canary: { steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] } }',
    '',
  ].join('\n');
}

/**
 * Merges a commit (merge request `iid`, by user 203) whose page names it ("v<iid>"); resolves with
 * the run once it ends with its deploy waiting for its approval.
 */
export async function mergePausedCanary(
  h: Harness,
  project: FakeProject,
  p: { projectId: number; path: string; pipeline: string; iid: number },
): Promise<RunRecord> {
  const sha = await commitFiles(
    project.bareDir,
    'main',
    {
      '.slipway.yml': p.pipeline,
      Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
      'www/healthz': 'ok\n',
      'www/index.html': `v${p.iid}\n`,
    },
    `Merge ${p.iid}`,
  );
  h.gitlab.addMergeRequest(p.projectId, { iid: p.iid, authorId: 203 });
  const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId: p.projectId, path: p.path, sha, iid: p.iid }), WEBHOOK_SECRET);
  expect(res.status).toBe(202);
  const run = await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 90_000);
  expect(run.jobs.find((j) => j.name === PAUSED_CANARY_JOB)?.status.phase).toBe('manual');
  return run;
}
