import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { registryFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 10: a tag followed end to end (GitLab's Tag Push Hook → the image job → the image under
// its version in the real registry), and the run page a commit status links to, fetched and run.
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

  it('the run page: served without the token, it loads the run through the API with the token in the Authorization header', async () => {
    expect(run, 'needs the run of the first test').toBeDefined();
    const page = await fetch(`${h.url}/runs/${run.id}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain(JSON.stringify(run.id));
    const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1];
    expect(script).toBeDefined();

    // The page's own script, run as a browser would run it, opened from a link carrying the token
    // in its fragment. Every request it makes goes to the real server.
    const requests: Array<{ url: string; authorization: string | null }> = [];
    const elements = new Map<string, { textContent: string; rows: string[][] }>();
    const element = (id: string) => {
      const el = elements.get(id) ?? { textContent: '', rows: [] };
      elements.set(id, el);
      return {
        set textContent(v: string) {
          el.textContent = v;
        },
        get textContent() {
          return el.textContent;
        },
        replaceChildren: () => {
          el.rows = [];
        },
        insertRow: () => {
          const row: string[] = [];
          el.rows.push(row);
          return {
            insertCell: () => ({
              set textContent(v: string) {
                row.push(v);
              },
            }),
          };
        },
      };
    };
    const storage = new Map<string, string>();
    let pending = 0;
    const sandbox = {
      URLSearchParams,
      location: { hash: `#token=${h.slipway.apiToken}`, pathname: `/runs/${run.id}` },
      history: { replaceState: () => undefined },
      localStorage: { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => storage.set(k, String(v)) },
      prompt: () => {
        throw new Error('the page asked for the token although the link carried it');
      },
      document: { getElementById: element },
      setTimeout: () => undefined,
      fetch: async (url: string, init?: { headers?: Record<string, string> }) => {
        pending += 1;
        try {
          const headers = new Headers(init?.headers);
          requests.push({ url, authorization: headers.get('authorization') });
          return await fetch(new URL(url, h.url), { headers });
        } finally {
          pending -= 1;
        }
      },
    };
    vm.runInNewContext(script ?? '', sandbox);
    await eventually(() => {
      expect(pending).toBe(0);
      expect(elements.get('status')?.textContent).toBe(`succeeded — ${run.status.reason}`);
    }, 10_000);

    // What the user sees: the run id, its verdict, each job with its phase and reason, the log.
    expect(elements.get('id')?.textContent).toBe(run.id);
    expect(elements.get('jobs')?.rows).toEqual(run.jobs.map((j) => [j.name, j.status.phase, j.status.reason]));
    expect(elements.get('log')?.textContent).toContain('[unit] testing v1.2.3');
    // The token went in the Authorization header, never the URL.
    expect(requests.map((r) => r.url).sort()).toEqual([`/api/runs/${run.id}`, `/api/runs/${run.id}/log`]);
    for (const r of requests) expect(r.authorization).toBe(`Bearer ${h.slipway.apiToken}`);

    // The API the page calls answers only with that header.
    expect((await fetch(`${h.url}/api/runs/${run.id}`)).status).toBe(401);
    expect((await fetch(`${h.url}/api/runs/${run.id}?token=${h.slipway.apiToken}`)).status).toBe(401);
    const api = await h.api<RunRecord>(`/api/runs/${run.id}`);
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ id: run.id, status: { phase: 'succeeded' } });
  });

  it('a run id cannot break out of the page’s script', async () => {
    const html = await (await fetch(`${h.url}/runs/${encodeURIComponent('</script><script>alert(1)</script>')}`)).text();
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).toContain('"\\u003c/script>\\u003cscript>alert(1)\\u003c/script>"');
  });
});
