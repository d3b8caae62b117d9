import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleServiceFiles } from '../../src/cli/sample-service.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';
import { dockerFromEnv, registryFromEnv, slotPortBase } from '../helpers/services.js';
import { eventually } from '../helpers/eventually.js';
import { scrapeMetrics, valueOf } from '../helpers/prometheus-text.js';

// The demo's path as a test: real Redis, Docker engine, registry and git; GitLab is the fake.
describe('a GitLab merge becomes a running service', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `hello-${suffix}`;
  const projectId = 5000 + Math.floor(Math.random() * 4000);
  const port = slotPortBase(6);
  let iid = 0;

  const merge = async (files: Record<string, string>, message = 'Merge branch feature') => {
    const sha = await commitFiles(project.bareDir, 'main', files, message);
    iid += 1;
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const run = await h.waitForRun(String(res.json['runId']));
    return { sha, run };
  };
  const page = async (url: string) => (await fetch(url)).text();

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
    await commitFiles(project.bareDir, 'main', { 'README.md': 'hi\n' }, 'Initial commit');
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
  });

  it('tests, builds, pushes and deploys to pre; GitLab sees every step', async () => {
    const files = { ...sampleServiceFiles({ port, greeting: `Hello v1 ${suffix}` }), 'www/.env': 'PASSWORD=hunter2\n', '.dockerignore': 'www/.env\n' };
    const { sha, run } = await merge(files);
    expect(run.status).toMatchObject({ phase: 'succeeded' });
    expect(run.jobs.map((j) => [j.name, j.status.phase])).toEqual([
      ['unit', 'success'],
      ['image', 'success'],
      ['deploy:pre', 'success'],
    ]);

    // The image is in the registry under the digest the run recorded.
    const repo = run.image?.repository.replace(`${registryFromEnv()}/`, '') ?? '';
    const head = await fetch(`http://${registryFromEnv()}/v2/${repo}/manifests/${sha.slice(0, 8)}`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(head.headers.get('docker-content-digest')).toBe(run.image?.digest);

    // The service answers on its pre address with the merged content.
    const pre = run.deployments.find((d) => d.environment === 'pre');
    expect(pre?.image).toBe(run.image?.ref);
    expect(await page(pre?.url ?? '')).toContain(`Hello v1 ${suffix}`);
    // .dockerignore kept the file out of the image, as docker build would.
    expect((await fetch(`${pre?.url ?? ''}/.env`)).status).toBe(404);

    // The test job's output is in the run log.
    const log = await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`);
    expect(log.body.lines).toContainEqual(expect.objectContaining({ job: 'unit', line: '2 checks passed' }));

    // GitLab got pending → running → success for each job, linked to the run.
    const statuses = h.gitlab.statuses(projectId, sha);
    for (const job of ['unit', 'image', 'deploy:pre']) {
      expect(statuses.filter((s) => s.name === `slipway/${job}`).map((s) => s.status)).toEqual(['pending', 'running', 'success']);
    }
    expect(statuses[0]?.target_url).toBe(`${h.config.http.publicUrl}/runs/${run.id}`);
    await eventually(() => {
      const notes = h.gitlab.notes(projectId, iid);
      expect(notes).toHaveLength(1);
      expect(notes[0]?.body).toContain('succeeded');
      expect(notes[0]?.body).toContain(pre?.url ?? 'missing');
    });
    expect(h.gitlab.unexpectedCalls()).toEqual([]);
  });

  it('a second merge replaces the release; the old container is gone', async () => {
    const before = (await h.slipway.store.list({ projectId }))[0]?.deployments[0]?.url;
    const { run } = await merge(sampleServiceFiles({ port, greeting: `Hello v2 ${suffix}` }));
    expect(run.status.phase).toBe('succeeded');
    const url = run.deployments[0]?.url ?? '';
    expect(url).not.toBe(before);
    expect(await page(url)).toContain(`Hello v2 ${suffix}`);
    await expect(fetch(before ?? '')).rejects.toThrow();
  });

  it('a failing health check keeps the old release serving and says why', async () => {
    const live = (await h.slipway.store.list({ projectId }))[0]?.deployments[0]?.url ?? '';
    const { run } = await merge(sampleServiceFiles({ port, greeting: `Hello v3 ${suffix}`, health: '/no-such-page', timeout: '8s' }));
    expect(run.status.phase).toBe('failed');
    const deploy = run.jobs.find((j) => j.name === 'deploy:pre');
    expect(deploy?.status.phase).toBe('failed');
    expect(deploy?.status.reason).toMatch(/404/);
    // It says what serves again: the release of the run before.
    expect(deploy?.status.reason).toMatch(/^deploy to pre failed, rolled back to run [0-9a-z-]+: /);
    expect(await page(live)).toContain(`Hello v2 ${suffix}`);
    expect(
      h.gitlab
        .statuses(projectId, run.request.sha)
        .filter((s) => s.name === 'slipway/deploy:pre')
        .at(-1)?.status,
    ).toBe('failed');
    // /metrics counts it: two good deploys so far, this failed one, and its rollback.
    const { samples } = await scrapeMetrics(h.url, h.slipway.apiToken);
    expect(valueOf(samples, 'slipway_deploys_total', { environment: 'pre', outcome: 'success' })).toBe(2);
    expect(valueOf(samples, 'slipway_deploys_total', { environment: 'pre', outcome: 'failed' })).toBe(1);
    expect(valueOf(samples, 'slipway_rollbacks_total', { environment: 'pre' })).toBe(1);
    expect(valueOf(samples, 'slipway_job_duration_seconds_count', { kind: 'deploy', outcome: 'failed' })).toBe(1);
  });

  it('a failing test stops the run: no image, no deploy', async () => {
    const files = sampleServiceFiles({ port, greeting: `Hello v4 ${suffix}` });
    files['test/run.sh'] = 'echo "expected 2 checks, 1 failed" >&2\nexit 3\n';
    const { sha, run } = await merge(files);
    expect(run.status).toMatchObject({ phase: 'failed', reason: "job 'unit' failed with exit code 3" });
    expect(run.jobs.map((j) => j.status.phase)).toEqual(['failed', 'skipped', 'skipped']);
    expect(run.image).toBeUndefined();
    expect(
      h.gitlab
        .statuses(projectId, sha)
        .filter((s) => s.name === 'slipway/unit')
        .at(-1)?.status,
    ).toBe('failed');
  });

  it('a broken pipeline file fails the run with line and column, in GitLab too', async () => {
    const files = sampleServiceFiles({ port });
    files['.slipway.yml'] = 'unit:\n  image: slipway/busybox:1\n  scirpt: [true]\n';
    const { sha, run } = await merge(files);
    expect(run.status.phase).toBe('failed');
    expect(run.status.reason).toContain(".slipway.yml:3:3: unknown key 'scirpt' in job 'unit' — did you mean 'script'?");
    await eventually(() => {
      const status = h.gitlab.statuses(projectId, sha).find((s) => s.name === 'slipway/pipeline');
      expect(status).toMatchObject({ status: 'failed' });
      expect(status?.description).toContain('.slipway.yml:');
      expect(h.gitlab.notes(projectId, iid)[0]?.body).toContain(".slipway.yml:3:3: unknown key 'scirpt'");
    });
  });

  it('a private project is fetched with the GitLab token, which never shows in a git argv or a log', async () => {
    const secretId = projectId + 1;
    const secret = await h.gitlab.addProject({ id: secretId, pathWithNamespace: `team/${service}-private`, visibility: 'private' });
    // At each git request the fetching processes wait for the answer: their argv is what `ps` shows.
    const seen: string[][] = [];
    h.gitlab.onGitRequest((path) => {
      if (!path.startsWith(`/${secret.pathWithNamespace}.git/`)) return;
      for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        let argv: string[];
        try {
          argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        } catch {
          continue; // gone meanwhile
        }
        if (/(^|\/)git(-remote-https?)?$/.test(argv[0] ?? '')) seen.push(argv);
      }
    });
    const pipeline = 'unit:\n  image: slipway/busybox:1\n  script: [cat private.txt]\n';
    const mergePrivate = async (content: string) => {
      const sha = await commitFiles(secret.bareDir, 'main', { '.slipway.yml': pipeline, 'private.txt': `${content}\n` }, content);
      iid += 1;
      const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId: secretId, path: secret.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      return h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 60_000);
    };
    // The first merge clones the mirror, the second fetches into it.
    for (const content of [`first ${suffix}`, `second ${suffix}`]) {
      const run = await mergePrivate(content);
      expect(run.status.phase).toBe('succeeded');
      const log = (await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`)).body.lines;
      expect(log).toContainEqual(expect.objectContaining({ job: 'unit', line: content }));
      expect(JSON.stringify(log)).not.toContain(h.gitlab.token);
    }
    const header = Buffer.from(`oauth2:${h.gitlab.token}`).toString('base64');
    expect(seen.some((argv) => argv.includes('clone'))).toBe(true);
    expect(seen.some((argv) => argv.includes('fetch'))).toBe(true);
    expect(seen.some((argv) => /git-remote-https?$/.test(argv[0] ?? '') || argv.includes('remote-http'))).toBe(true);
    for (const argv of seen) {
      expect(argv.join(' ')).not.toContain(h.gitlab.token);
      expect(argv.join(' ')).not.toContain(header);
    }
    expect(h.logs.join('\n')).not.toContain(h.gitlab.token);
    expect(h.gitlab.calls.filter((c) => c.path.startsWith(`/${secret.pathWithNamespace}.git/`) && c.status === 401)).toEqual([]);
  });
});
