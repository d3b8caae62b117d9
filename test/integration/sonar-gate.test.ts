import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from 'tar-stream';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { startFakeSonar, type FakeSonar } from '../../src/standins/sonar/sonar-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// A stand-in for sonar-scanner: writes the report-task.txt the real scanner leaves behind, with the
// project key as the background task id, so each case picks its task on the fake SonarQube.
const SCANNER = `#!/bin/sh
set -e
key=""
for a in "$@"; do case "$a" in -Dsonar.projectKey=*) key="\${a#-Dsonar.projectKey=}";; esac; done
mkdir -p .scannerwork
printf 'projectKey=%s\\nserverUrl=%s\\ndashboardUrl=%s/dashboard?id=%s\\nceTaskId=%s\\n' "$key" "$SONAR_HOST_URL" "$SONAR_HOST_URL" "$key" "$key" > .scannerwork/report-task.txt
echo "INFO: ANALYSIS SUCCESSFUL, you can find the results at: $SONAR_HOST_URL/dashboard?id=$key"
`;

const JUNIT = `<?xml version="1.0"?>
<testsuites><testsuite name="cart" tests="2">
  <testcase classname="cart" name="adds items"/>
  <testcase classname="cart" name="totals"><failure message="expected 3 got 4">trace</failure></testcase>
</testsuite></testsuites>`;

describe('sonar quality gate end to end', () => {
  const suffix = randomBytes(3).toString('hex');
  const service = `gate-${suffix}`;
  const scanner = `slipway-test/sonar-scanner-${suffix}:1`;
  const projectId = 17000 + Math.floor(Math.random() * 1000);
  const port = 43000 + 2 * Math.floor(Math.random() * 1000);
  const docker = dockerFromEnv();
  let sonar: FakeSonar;
  let h: Harness;
  let project: FakeProject;
  let iid = 0;

  const merge = async (key: string, gate: 'required' | 'advisory') => {
    iid += 1;
    const pipeline = [
      'unit:',
      '  image: slipway/busybox:1',
      "  coverage: '/Total coverage: \\d+\\.\\d+%/'",
      '  script:',
      `    - 'echo "Total coverage: 87.5%"'`,
      '    - mkdir -p reports && cp junit.xml reports/junit.xml',
      '  artifacts: { reports: { junit: reports/junit.xml } }',
      `sonar: { project_key: ${key}, gate: ${gate} }`,
      `build: { image: demo/${service} }`,
      'deploy:',
      `  service: ${service}`,
      `  environments: { pre: { port: ${port}, health: /healthz, timeout: 30s } }`,
      '',
    ].join('\n');
    const sha = await commitFiles(project.bareDir, 'main', {
      '.slipway.yml': pipeline,
      'junit.xml': JUNIT,
      Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
      'www/healthz': 'ok\n',
      'www/index.html': `<h1>${service} ${iid}</h1>\n`,
    }, `Merge ${iid}`);
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { iid, run: await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 150_000) };
  };
  const phases = (run: RunRecord) => run.jobs.length === 0 ? { run: run.status.reason } : Object.fromEntries(run.jobs.map((j) => [j.name, j.status.phase]));
  const failingGate = { status: 'ERROR' as const, conditions: [{ status: 'ERROR', metricKey: 'new_coverage', comparator: 'LT', errorThreshold: '80', actualValue: '61.5' }] };

  beforeAll(async () => {
    const context = pack();
    context.entry({ name: 'Dockerfile' }, 'FROM slipway/busybox:1\nCOPY sonar-scanner /bin/sonar-scanner\n');
    context.entry({ name: 'sonar-scanner', mode: 0o755 }, SCANNER);
    context.finalize();
    const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: scanner, rm: true, forcerm: true });
    await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(undefined))));
    sonar = await startFakeSonar();
    h = await startHarness({ env: { SONAR_HOST_URL: sonar.url, SONAR_TOKEN: sonar.token, SLIPWAY_SONAR_SCANNER_IMAGE: scanner } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
  });
  afterAll(async () => {
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
    await sonar.close();
    await docker.getImage(scanner).remove({ force: true }).catch(() => undefined);
  });

  it('gate OK: deploy proceeds; the MR note shows tests, coverage and the gate; coverage goes with the commit status', async () => {
    const key = `ok-${suffix}`;
    sonar.addTask(key, { statuses: ['IN_PROGRESS', 'SUCCESS'], analysisId: `a-${key}`, gate: { status: 'OK' } });
    const { iid: mr, run } = await merge(key, 'required');
    expect(phases(run)).toEqual({ unit: 'success', sonar: 'success', image: 'success', 'deploy:pre': 'success' });
    expect(run.status.phase).toBe('succeeded');
    expect(run.sonar).toEqual({ status: 'OK', outcome: 'pass', dashboardUrl: `${sonar.url}/dashboard?id=${key}` });
    expect(run.jobs.find((j) => j.name === 'unit')?.coverage).toBe(87.5);
    // The token never reached a log line.
    const log = (await h.api<{ lines: Array<{ line: string }> }>(`/api/runs/${run.id}/log`)).body.lines.map((l) => l.line).join('\n');
    expect(log).not.toContain(sonar.token);
    expect(sonar.unexpectedCalls()).toEqual([]);
    await eventually(() => {
      const unit = h.gitlab.statuses(projectId, run.request.sha).filter((s) => s.name === 'slipway/unit').at(-1);
      expect(unit).toMatchObject({ status: 'success', coverage: 87.5 });
      const body = h.gitlab.notes(projectId, mr)[0]?.body ?? '';
      expect(body).toContain('succeeded');
      expect(body).toContain('| unit | ✅ success | 1 passed, **1 failed**, 0 skipped | 87.5% |');
      expect(body).toContain('- cart › totals (unit): expected 3 got 4');
      expect(body).toContain(`Quality gate: ✅ OK — [SonarQube dashboard](${sonar.url}/dashboard?id=${key})`);
    });
  });

  it('gate ERROR with gate: required fails the sonar job and the run, and skips the deploys', async () => {
    const key = `err-${suffix}`;
    sonar.addTask(key, { statuses: ['SUCCESS'], analysisId: `a-${key}`, gate: failingGate });
    const { run } = await merge(key, 'required');
    expect(phases(run)).toMatchObject({ unit: 'success', sonar: 'failed', 'deploy:pre': 'skipped' });
    expect(run.jobs.find((j) => j.name === 'sonar')?.status.reason).toBe(`quality gate ERROR: new_coverage 61.5 (LT 80) — ${sonar.url}/dashboard?id=${key}`);
    expect(run.status.phase).toBe('failed');
    expect(run.deployments).toEqual([]);
    expect(run.sonar).toMatchObject({ status: 'ERROR', outcome: 'fail' });
  });

  it('gate ERROR with gate: advisory warns, deploys, and the run succeeds', async () => {
    const key = `adv-${suffix}`;
    sonar.addTask(key, { statuses: ['SUCCESS'], analysisId: `a-${key}`, gate: failingGate });
    const { iid: mr, run } = await merge(key, 'advisory');
    expect(phases(run)).toEqual({ unit: 'success', sonar: 'success', image: 'success', 'deploy:pre': 'success' });
    expect(run.status.phase).toBe('succeeded');
    expect(run.sonar).toMatchObject({ status: 'ERROR', outcome: 'warn' });
    await eventually(() => expect(h.gitlab.notes(projectId, mr)[0]?.body).toContain('Quality gate: ⚠️ ERROR (advisory: not blocking)'));
  });
});
