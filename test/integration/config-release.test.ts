import type Docker from 'dockerode';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleServiceFiles } from '../../src/cli/sample-service.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles, mergeBranch } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { git } from '../helpers/git-cli.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 11 "config-only release", through a running Slipway (real Redis, Docker engine, registry and
// git; GitLab is the stand-in) on the Docker host target, where the environment config becomes the
// release container's environment as the ConfigMap does on Kubernetes (test/k8s/config-release.k8s.ts).
describe('config releases: environment config through the API, deploy-config-only merges', () => {
  let h: Harness;
  let project: FakeProject;
  let docker: Docker;
  const projectId = 64000 + Math.floor(Math.random() * 1000);
  const service = `cfg-${projectId}`;
  // Shares template-deploy.test.ts's band; each file picks a random pair inside it.
  const port = slotPortBase(2);
  let iid = 0;
  let first: RunRecord;

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${h.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { release?: { runId: string } | null; problems?: string[] } };
  };
  const configPath = (env = 'pre') => `/api/services/${service}/environments/${env}/config`;
  /** The release container of a run: its environment as Docker has it. */
  const envOf = async (runId: string) => {
    const [c] = await docker.listContainers({ filters: { label: [`io.slipway.release=${runId}`] } });
    if (!c) throw new Error(`no running container of run ${runId}`);
    const info = await docker.getContainer(c.Id).inspect();
    return Object.fromEntries((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  };
  const jobsOf = (run: RunRecord) => run.jobs.map((j) => [j.name, j.status.phase]);

  beforeAll(async () => {
    docker = dockerFromEnv();
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
    // The sample service with its deploy template in the repository (deploy/service.yml).
    const files = sampleServiceFiles({ port });
    const doc = parseDocument(files['.slipway.yml'] ?? '');
    doc.setIn(['deploy', 'service'], service);
    doc.setIn(['deploy', 'template'], 'deploy/service.yml');
    files['.slipway.yml'] = doc.toString();
    files['deploy/service.yml'] = 'env:\n  FROM_TEMPLATE: v1\n  SLIPWAY_RELEASE: ${SLIPWAY_PIPELINE_ID}\n';
    await commitFiles(project.bareDir, 'main', { 'README.md': 'hi\n' }, 'Initial commit');
    git(project.bareDir, 'branch', 'feature', 'main');
    await commitFiles(project.bareDir, 'feature', files, 'the service');
    const sha = await mergeBranch(project.bareDir, 'feature', 'main', 'Merge branch feature');
    iid += 1;
    const res = await deliver(
      h.url,
      'Merge Request Hook',
      mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid, sourceBranch: 'feature' }),
      WEBHOOK_SECRET,
    );
    expect(res.status).toBe(202);
    first = await h.waitForRun(String(res.json['runId']), undefined, 180_000);
    expect(first.status.phase).toBe('succeeded');
  }, 240_000);
  afterAll(async () => {
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h?.stop();
  });

  it('bad config is refused with 400 naming every problem, and nothing is stored', async () => {
    const bad = await call('PUT', configPath(), { values: { '1BAD': 'x', SLIPWAY_IMAGE: 'y', PORT: '1', COUNT: 5, OK: 'z'.repeat(40_000) } });
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual([
      'values.1BAD: a key is an environment variable name (letters, digits and _, not starting with a digit, at most 253 characters)',
      'values.SLIPWAY_IMAGE: reserved: Slipway sets SLIPWAY_* names on every release itself',
      'values.PORT: reserved: Slipway sets PORT on every release itself',
      'values.COUNT: must be a string (got number)',
      'values.OK: at most 32 KB',
    ]);
    expect((await call('PUT', configPath(), { value: { A: 'b' } })).body.error).toBe('body must be { values: { KEY: "value", ... } } (unknown field value)');
    expect((await call('PUT', `/api/services/${service}/environments/Pre!/config`, { values: { A: 'b' } })).status).toBe(400);
    expect((await call('GET', configPath())).body).toMatchObject({ revision: 0, values: {} });
  });

  it('an environment nothing was ever deployed to answers 409 naming it, and stores nothing', async () => {
    const res = await call('PUT', configPath('production'), { values: { A: 'b' } });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe(`nothing was ever deployed to environment production of service ${service}: deploy it once through a pipeline first`);
    expect((await call('GET', configPath('production'))).body).toMatchObject({ revision: 0, values: {} });
  });

  it('a change is a new revision and a config release: the live image again, deploy only, with the new config', async () => {
    const put = await call('PUT', configPath(), { values: { FEATURE_FLAG: 'on', FROM_TEMPLATE: 'overridden?' } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      revision: 1,
      values: { FEATURE_FLAG: 'on', FROM_TEMPLATE: 'overridden?' },
      release: { fromRun: first.id, sha: first.request.sha },
    });
    const run = await h.waitForRun(put.body.release?.runId ?? '', undefined, 120_000);
    expect(run.status.phase).toBe('succeeded');
    // Recorded as a config release of revision 1, for the live release's commit.
    expect(run.request).toMatchObject({
      event: 'config',
      sha: first.request.sha,
      configRelease: { service, environment: 'pre', revision: 1, fromRun: first.id },
    });
    expect(jobsOf(run)).toEqual([['deploy:pre', 'success']]);
    expect(run.plan?.skipped.map((s) => s.name).sort()).toEqual(['image', 'unit']);
    // The same image digest, no build.
    expect(run.image?.digest).toBe(first.image?.digest);
    expect(run.deployments.find((d) => d.environment === 'pre')?.image).toBe(first.image?.ref);
    const env = await envOf(run.id);
    expect(env['FEATURE_FLAG']).toBe('on');
    // The template's own env wins over the config for the keys it sets.
    expect(env['FROM_TEMPLATE']).toBe('v1');
    const log = (await h.slipway.store.readLog(run.id)).map((l) => l.line);
    expect(log).toContain("environment config revision 1 (FEATURE_FLAG, FROM_TEMPLATE) over the pipeline file's variables");
    expect(log.join('\n')).not.toContain('building');
  }, 150_000);

  it('the same values again make no revision; deleting a key does, and releases again', async () => {
    const same = await call('PUT', configPath(), { values: { FEATURE_FLAG: 'on' } });
    expect(same.body).toMatchObject({ revision: 1, release: null });
    expect((await call('DELETE', `${configPath()}/NOT_SET`)).status).toBe(404);
    const del = await call('DELETE', `${configPath()}/FROM_TEMPLATE`);
    expect(del.body).toMatchObject({ revision: 2, values: { FEATURE_FLAG: 'on' } });
    const run = await h.waitForRun(del.body.release?.runId ?? '', undefined, 120_000);
    expect(run.status.phase).toBe('succeeded');
    expect(run.request.configRelease?.revision).toBe(2);
    expect(run.image?.digest).toBe(first.image?.digest);
    expect((await call('GET', configPath())).body).toMatchObject({ revision: 2, values: { FEATURE_FLAG: 'on' } });
  }, 150_000);

  it('a merge that changes only the deploy template builds nothing: it deploys the parent commit’s image with the new template', async () => {
    git(project.bareDir, 'branch', '-f', 'template-only', 'main');
    await commitFiles(project.bareDir, 'template-only', { 'deploy/service.yml': 'env:\n  FROM_TEMPLATE: v2\n' }, 'template v2');
    const sha = await mergeBranch(project.bareDir, 'template-only', 'main', 'Merge branch template-only');
    iid += 1;
    const res = await deliver(
      h.url,
      'Merge Request Hook',
      mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid, sourceBranch: 'template-only' }),
      WEBHOOK_SECRET,
    );
    const run = await h.waitForRun(String(res.json['runId']), undefined, 150_000);
    expect(run.status.phase).toBe('succeeded');
    expect(jobsOf(run)).toEqual([
      ['unit', 'success'],
      ['deploy:pre', 'success'],
    ]);
    const skipped = run.plan?.skipped.find((s) => s.name === 'image');
    expect(skipped?.reason).toMatch(
      new RegExp(
        `^only deploy config changed \\(deploy/service\\.yml\\): deploys the image ${first.image?.digest} built for the parent commit ${first.request.sha.slice(0, 8)} by run \\S+; nothing is built$`,
      ),
    );
    expect(run.image?.digest).toBe(first.image?.digest);
    const env = await envOf(run.id);
    expect(env['FROM_TEMPLATE']).toBe('v2');
    // The API's config stays on code releases too.
    expect(env['FEATURE_FLAG']).toBe('on');
  }, 180_000);
});
