import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { eventually } from '../helpers/eventually.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Branch names, titles and commit messages are attacker-controlled. They must reach steps as
// data (environment values) and never be evaluated by any shell, on the host or in a container.
describe('hostile branch names and messages', () => {
  let h: Harness;
  const marker = `/tmp/pwned-${randomBytes(4).toString('hex')}`;
  const branch = `feature/$(touch${'${IFS}'}${marker});rm${'${IFS}'}-rf${'${IFS}'}.\`touch${'${IFS}'}${marker}\`-ünï©ødé`;
  const title = `Fix $(touch ${marker}); \`touch ${marker}\` | tee ${marker}\n&& touch ${marker} ✓`;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());

  it('flow through to the job verbatim and nothing gets executed', async () => {
    const projectId = 9100 + Math.floor(Math.random() * 800);
    const project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/hostile-${projectId}`, defaultBranch: 'main' });
    const pipeline = [
      'unit:',
      '  image: slipway/busybox:1',
      '  script:',
      '    - printf "branch=%s\\n" "$SLIPWAY_COMMIT_REF_NAME"',
      '    - printf "source=%s\\n" "$SLIPWAY_MERGE_REQUEST_SOURCE_BRANCH_NAME"',
      `    - test ! -e ${marker}`,
      '',
    ].join('\n');
    const sha = await commitFiles(project.bareDir, branch, { '.slipway.yml': pipeline }, title);

    const body = fixture('merge-request-hook-open.json') as { project: Record<string, unknown>; object_attributes: Record<string, unknown> };
    body.project = { ...body.project, id: projectId, path_with_namespace: project.pathWithNamespace };
    body.object_attributes = {
      ...body.object_attributes,
      source_project_id: projectId,
      target_project_id: projectId,
      source_branch: branch,
      target_branch: 'main',
      title,
      last_commit: { id: sha, message: title, title },
    };
    const res = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const run = await h.waitForRun(String(res.json['runId']));
    expect(run.status.phase).toBe('succeeded');
    expect(run.request.ref).toBe(branch);

    const log = await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`);
    const lines = log.body.lines.filter((l) => l.job === 'unit').map((l) => l.line);
    expect(lines).toContain(`branch=${branch}`);
    expect(lines).toContain(`source=${branch}`);
    expect(existsSync(marker)).toBe(false);
    // The MR note quotes the branch as text.
    await eventually(() => expect(h.gitlab.notes(projectId, 1)[0]?.body).toContain('succeeded'));
  });
});
