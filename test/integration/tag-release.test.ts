import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { registryFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10: a tag followed end to end (GitLab's Tag Push Hook → the image job → the image under
// its version in the real registry), and the run page a commit status links to (behind the web UI's sign-in).
describe('a release tag becomes a versioned image; the run page shows the run', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const projectId = 19000 + Math.floor(Math.random() * 1000);
  const image = `demo/release-${suffix}`;
  const registry = registryFromEnv();
  let run: RunRecord;

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/release-${suffix}`, defaultBranch: 'main' });
  }, 60_000);
  afterAll(async () => h.stop());

  it('a Tag Push Hook for an annotated v1.2.3 pushes the image as 1.2.3 (and v1.2.3, and the short SHA) under the digest the run recorded', async () => {
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        // No rules: the image job's default is to build on tags (and merges).
        '.slipway.yml': `unit:\n  image: slipway/busybox:1\n  script: [echo "testing $SLIPWAY_TAG"]\nbuild: { image: ${image} }\n`,
        Dockerfile: 'FROM slipway/busybox:1\nCOPY version.txt /version.txt\n',
        'version.txt': `1.2.3 ${suffix}\n`,
      },
      'Release 1.2.3',
    );
    // An annotated tag, as `git tag -a` makes: GitLab's `after` is the tag object, `checkout_sha` the commit.
    execFileSync('git', [
      '--git-dir',
      project.bareDir,
      '-c',
      'user.name=Release Bot',
      '-c',
      'user.email=bot@example.com',
      'tag',
      '-a',
      'v1.2.3',
      '-m',
      'Release 1.2.3',
      sha,
    ]);
    const tagObject = execFileSync('git', ['--git-dir', project.bareDir, 'rev-parse', 'refs/tags/v1.2.3'], { encoding: 'utf8' }).trim();
    expect(tagObject).not.toBe(sha);

    const body = fixture('tag-push-hook.json');
    Object.assign(body, {
      ref: 'refs/tags/v1.2.3',
      after: tagObject,
      checkout_sha: sha,
      project: { ...(body['project'] as object), id: projectId, path_with_namespace: project.pathWithNamespace, default_branch: 'main' },
    });
    const res = await deliver(h.url, 'Tag Push Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    run = await h.waitForRun(String(res.json['runId']), undefined, 120_000);

    expect(run.status.phase).toBe('succeeded');
    expect(run.request).toMatchObject({ event: 'tag', ref: 'v1.2.3', sha });
    expect(run.jobs.map((j) => [j.name, j.status.phase])).toEqual([
      ['unit', 'success'],
      ['image', 'success'],
    ]);
    expect((await h.slipway.store.readLog(run.id)).filter((l) => l.job === 'unit').map((l) => l.line)).toContain('testing v1.2.3');
    expect(run.image).toMatchObject({ repository: `${registry}/${image}`, tags: [sha.slice(0, 8), '1.2.3', 'v1.2.3'] });
    const digest = run.image?.digest ?? 'missing';
    expect(run.image?.ref).toBe(`${registry}/${image}@${digest}`);

    // What the registry holds (Registry v2 API): the tags, each naming the digest the run recorded.
    const list = await fetch(`http://${registry}/v2/${image}/tags/list`);
    expect(list.status).toBe(200);
    expect(((await list.json()) as { tags: string[] }).tags.sort()).toEqual(['1.2.3', sha.slice(0, 8), 'v1.2.3'].sort());
    for (const tag of ['1.2.3', 'v1.2.3', sha.slice(0, 8)]) {
      const head = await fetch(`http://${registry}/v2/${image}/manifests/${tag}`, {
        method: 'HEAD',
        headers: {
          Accept:
            'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
        },
      });
      expect(head.status, tag).toBe(200);
      expect(head.headers.get('docker-content-digest'), tag).toBe(digest);
    }

    // GitLab's statuses for the tag's commit link to the run page.
    await eventually(() => {
      const statuses = h.gitlab.statuses(projectId, sha).filter((s) => s.name === 'slipway/image');
      expect(statuses.at(-1)).toMatchObject({ status: 'success', ref: 'v1.2.3', target_url: `${h.config.http.publicUrl}/runs/${run.id}` });
    });
  });

  it('the run page a commit status links to asks for a sign-in (no token in any URL); the API answers only with the Authorization header', async () => {
    expect(run, 'needs the run of the first test').toBeDefined();
    // The page is the web UI's (docs/web-ui.md): without a session it sends the browser to sign in and back.
    const page = await fetch(`${h.url}/runs/${run.id}`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent(`/runs/${run.id}`)}`);

    expect((await fetch(`${h.url}/api/runs/${run.id}`)).status).toBe(401);
    expect((await fetch(`${h.url}/api/runs/${run.id}?token=${h.slipway.apiToken}`)).status).toBe(401);
    const api = await h.api<RunRecord>(`/api/runs/${run.id}`);
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ id: run.id, status: { phase: 'succeeded' } });
  });

  it('a run id cannot break out of the sign-in redirect', async () => {
    const res = await fetch(`${h.url}/runs/${encodeURIComponent('</script><script>alert(1)</script>')}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent('/runs/%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E')}`);
  });
});
