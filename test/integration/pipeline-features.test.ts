import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

const junit = (secret: string) => `<?xml version="1.0"?>
<testsuites><testsuite name="cart" tests="4">
  <testcase classname="cart" name="adds items"/>
  <testcase classname="cart" name="totals"><failure message="expected 3 got 4">trace</failure></testcase>
  <testcase classname="cart" name="auth"><failure message="login with ${secret} refused">trace</failure></testcase>
  <testcase classname="cart" name="later"><skipped/></testcase>
</testsuite></testsuites>`;

// The worker side of the pipeline language, on real Docker and Redis: needs, artifacts, caches,
// retry, allow_failure, JUnit reports, masked variables and the approval gate for production.
describe('pipeline features in the workers', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `shop-${suffix}`;
  const projectId = 12000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(5);
  const secret = `s3cr3t-${randomBytes(6).toString('hex')}`;
  let iid = 0;

  const pipeline = [
    'stages: [prepare, test, build, deploy]',
    'variables: { GREETING: hello }',
    'prepare:',
    '  stage: prepare',
    '  image: slipway/busybox:1',
    '  script:',
    '    - mkdir -p out vendor',
    '    - echo "$GREETING from prepare" > out/message.txt',
    '    - if [ -f vendor/warm ]; then echo "vendor cache was warm"; fi',
    '    - touch vendor/warm',
    '    - echo "token is $API_TOKEN"',
    '  cache: { key: { files: [deps.lock], prefix: vendor }, paths: [vendor/] }',
    '  artifacts: { paths: [out/] }',
    'unit:',
    '  stage: test',
    '  image: slipway/busybox:1',
    '  needs: [prepare]',
    '  script:',
    '    - cat out/message.txt',
    '    - mkdir -p reports && cp junit.xml reports/junit.xml',
    '  artifacts: { reports: { junit: reports/junit.xml } }',
    'flaky:',
    '  stage: test',
    '  image: slipway/busybox:1',
    '  retry: { max: 2, when: [script_failure] }',
    '  script:',
    '    - if [ ! -f .first-try ]; then touch .first-try; echo "first try fails"; exit 1; fi',
    '    - echo "second try passes"',
    'lint:',
    '  stage: test',
    '  image: slipway/busybox:1',
    '  allow_failure: true',
    '  script: [exit 7]',
    `build: { image: demo/${service} }`,
    'deploy:',
    `  service: ${service}`,
    '  environments:',
    `    pre: { port: ${port}, health: /healthz, timeout: 30s }`,
    `    production: { port: ${port + 100}, health: /healthz, approval: true }`,
    '',
  ].join('\n');

  const files = () => ({
    '.slipway.yml': pipeline,
    'deps.lock': 'left-pad 1.3.0\n',
    'junit.xml': junit(secret),
    Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
    'www/healthz': 'ok\n',
    'www/index.html': `<h1>${service}</h1>\n`,
  });

  const merge = async () => {
    const sha = await commitFiles(project.bareDir, 'main', { ...files(), 'www/index.html': `<h1>${service} ${iid}</h1>\n` }, `Merge ${iid}`);
    iid += 1;
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 120_000);
  };
  const logOf = async (run: RunRecord, job: string) =>
    (await h.api<{ lines: Array<{ job: string; line: string }> }>(`/api/runs/${run.id}/log`)).body.lines.filter((l) => l.job === job).map((l) => l.line);

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
    const put = await fetch(`${h.url}/api/projects/${projectId}/variables/API_TOKEN`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ value: secret, masked: true, protected: true }),
    });
    expect(put.status).toBeLessThan(300);
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
  });

  it('runs the DAG: artifacts flow, retries pass, allowed failures do not fail the run, production waits', async () => {
    const run = await merge();
    const phase = Object.fromEntries(run.jobs.map((j) => [j.name, j.status.phase]));
    expect(phase).toEqual({
      prepare: 'success',
      unit: 'success',
      flaky: 'success',
      lint: 'failed',
      image: 'success',
      'deploy:pre': 'success',
      'deploy:production': 'manual',
    });
    expect(run.status.phase).toBe('succeeded');
    expect(run.status.reason).toContain('waiting: deploy:production');
    expect(run.deployments.map((d) => d.environment)).toEqual(['pre']);

    expect(await logOf(run, 'unit')).toContain('hello from prepare');
    const flaky = run.jobs.find((j) => j.name === 'flaky');
    expect(flaky?.attempt).toBe(2);
    expect(await logOf(run, 'flaky')).toContain('second try passes');
    expect(run.jobs.find((j) => j.name === 'lint')).toMatchObject({ allowedFailure: true, exitCode: 7 });
    expect(run.jobs.find((j) => j.name === 'deploy:production')?.status.reason).toBe(
      `waiting: 1 more approval by a Maintainer of team/${service}; authors excluded`,
    );
    expect(run.jobs.find((j) => j.name === 'unit')?.tests).toMatchObject({
      passed: 1,
      failed: 2,
      skipped: 1,
      failures: [
        { name: 'totals', message: 'expected 3 got 4' },
        { name: 'auth', message: 'login with [MASKED] refused' },
      ],
    });

    // The masked project variable reached the job and never its log.
    const prepareLog = (await logOf(run, 'prepare')).join('\n');
    expect(prepareLog).toContain('token is [MASKED]');
    expect(prepareLog).not.toContain(secret);
    expect(prepareLog).toContain('cache miss for key vendor-');

    await eventually(() => {
      const lint = h.gitlab
        .statuses(projectId, run.request.sha)
        .filter((s) => s.name === 'slipway/lint')
        .at(-1);
      expect(lint?.status).toBe('success');
      expect(lint?.description).toMatch(/^failed, allowed to fail/);
      // A manual job posts no status: the commit is not held "pending" for an approval.
      expect(h.gitlab.statuses(projectId, run.request.sha).some((s) => s.name === 'slipway/deploy:production')).toBe(false);
    });
  });

  it('restores the dependency cache on the next run', async () => {
    const run = await merge();
    const log = await logOf(run, 'prepare');
    expect(log.some((l) => l.startsWith('cache hit for key vendor-'))).toBe(true);
    expect(log).toContain('vendor cache was warm');
    expect(run.jobs.find((j) => j.name === 'prepare')?.cache?.[0]).toMatch(/^cache hit/);
  });
});
