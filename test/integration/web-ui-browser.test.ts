import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

const CHROMIUM = process.env['SLIPWAY_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOTS = path.resolve(import.meta.dirname, '../../test-results/web-ui');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`web UI browser tests SKIPPED: no chromium at ${CHROMIUM} (install Debian's chromium: bash .ci/services.sh install)`);

// The web UI in a real browser (Debian's chromium driven by playwright-core, headless, a fresh
// profile) against a running Slipway with every role, the GitLab stand-in, Docker and the registry:
// sign in, watch a job's log arrive while it runs, approve a production deploy and see it run, the
// approvals inbox, a 20,000-line log, and the queue dashboard. Screenshots go to test-results/web-ui/.
describe.skipIf(!haveChromium)('web UI in a browser', () => {
  let h: Harness;
  let project: FakeProject;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const suffix = randomBytes(3).toString('hex');
  const service = `webui-${suffix}`;
  const projectId = 17000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(5);
  const projectPath = `team/${service}`;
  let token = '';

  const pipeline = [
    'stages: [test, build, deploy]',
    'slow:',
    '  stage: test',
    '  image: slipway/busybox:1',
    '  script:',
    '    - for i in $(seq 1 40); do echo "tick $i of 40"; sleep 0.25; done',
    `build: { image: demo/${service} }`,
    'deploy:',
    `  service: ${service}`,
    '  environments:',
    `    production: { port: ${port}, health: /healthz, timeout: 30s, approval: { required: 1 } }`,
    '',
  ].join('\n');

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: projectPath, defaultBranch: 'main' });
    // maria: a Maintainer of the project and a GitLab administrator (the queue dashboard).
    token = h.gitlab.addUser({ id: 401, username: 'maria', name: 'Maria Ops', admin: true }).token;
    h.gitlab.setMember(projectId, 401, 40);
    profile = mkdtempSync(path.join(tmpdir(), 'slipway-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
      viewport: { width: 1366, height: 850 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    const unexpected = h?.gitlab.unexpectedCalls();
    await h?.stop();
    expect(unexpected).toEqual([]);
  });

  let runId = '';

  it('signs in with a GitLab token and lands on the page asked for', async () => {
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': pipeline,
        Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
        'www/healthz': 'ok\n',
        'www/index.html': `<h1>${service}</h1>\n`,
      },
      'Merge the web UI demo',
    );
    h.gitlab.addMergeRequest(projectId, { iid: 7, authorId: 204 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: projectPath, sha, iid: 7 }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    runId = String(res.json['runId']);
    await page.goto(`${h.url}/runs/${runId}`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.getByLabel('GitLab personal access token').fill(token);
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${h.url}/runs/${runId}`);
    expect(page.url()).not.toContain(token);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(runId);
  });

  it('shows a running job’s log as it is written', async () => {
    const log = page.locator('#log');
    await log.getByText('tick 3 of 40', { exact: false }).first().waitFor({ timeout: 90_000 });
    // Seen while the job still runs: the line came over the stream, not with the page.
    expect((await h.slipway.store.getJob(runId, 'slow'))?.status.phase).toBe('running');
    expect(await log.getByText('tick 40 of 40').count()).toBe(0);
    await page.locator('article.job[data-job="slow"] .phase', { hasText: 'running' }).waitFor();
    await shot('run-page-live-log');
    await log.getByText('tick 40 of 40').first().waitFor({ timeout: 60_000 });
    await page.locator('article.job[data-job="slow"] .phase', { hasText: 'success' }).waitFor({ timeout: 30_000 });
  });

  it('lists the waiting production deploy in the approvals inbox', async () => {
    await page.locator('#changed').waitFor({ state: 'visible', timeout: 120_000 });
    await page.goto(`${h.url}/approvals`);
    await page.getByRole('button', { name: 'Approve deploy:production' }).waitFor();
    await shot('approvals-inbox');
  });

  it('approves the production deploy from the run page and sees it deployed', async () => {
    await page.goto(`${h.url}/runs/${runId}`);
    const approve = page.getByRole('button', { name: 'Approve deploy:production' });
    await approve.waitFor();
    await page.locator('#log').getByText('tick 40 of 40').first().waitFor({ timeout: 30_000 });
    await shot('run-page');
    await approve.click();
    await page.waitForURL(`${h.url}/runs/${runId}`);
    await page.locator('article.job[data-job="deploy:production"] .phase', { hasText: 'success' }).waitFor({ timeout: 120_000 });
    const run: RunRecord = await h.waitForRun(runId, ['succeeded', 'failed'], 60_000);
    expect(run.status.phase).toBe('succeeded');
    expect(run.deployments.map((d) => d.environment)).toEqual(['production']);
    await page.reload();
    await page.getByRole('heading', { name: 'Deployments' }).waitFor();
    await shot('run-page-deployed');
  });

  it('keeps a 20,000-line log light: the page holds at most 5,000 lines and says what it left out', async () => {
    for (let i = 0; i < 20_010; i += 500)
      await Promise.all(
        Array.from({ length: Math.min(500, 20_010 - i) }, (_, j) => h.slipway.store.appendLog(runId, 'slow', 'stdout', `filler line ${i + j}`)),
      );
    const started = Date.now();
    await page.goto(`${h.url}/runs/${runId}`);
    await page.locator('#log').getByText('filler line 20009').waitFor({ timeout: 60_000 });
    const loadedMs = Date.now() - started;
    await expect(page.locator('#log-notice').textContent()).resolves.toMatch(
      /earlier lines were dropped: Slipway keeps the last 20,000 lines.*This page shows the last 5000 lines; 15000 earlier ones are not shown/,
    );
    expect(await page.locator('#log > div').count()).toBeLessThanOrEqual(5000);
    // The page still answers at once (a frozen main thread would not).
    const t0 = Date.now();
    await page.evaluate('document.title');
    expect(Date.now() - t0).toBeLessThan(1000);
    console.log(`20,010-line log shown in ${loadedMs} ms`);
  });

  it('shows the queue dashboard to an admin', async () => {
    await page.goto(`${h.url}/admin/queues`);
    await page.getByText('Slipway queues').first().waitFor({ timeout: 30_000 });
    await page.getByText('build', { exact: true }).first().waitFor({ timeout: 30_000 });
    await shot('queue-dashboard');
  });

  const matrixRow = () => page.locator(`tr[data-service="${service}"][data-environment="production"]`);
  const shortDigest = (d: string | undefined) => (d ?? '').replace(/^sha256:/, '').slice(0, 12);
  let firstUrl = '';

  it('shows the deploy in the environments matrix, and the matrix changes after the next deploy', async () => {
    const first = await h.waitForRun(runId, ['succeeded', 'failed'], 10_000);
    firstUrl = first.deployments[0]?.url ?? '';
    await page.goto(`${h.url}/environments`);
    await expect(matrixRow().locator('.digest').textContent()).resolves.toBe(shortDigest(first.image?.digest));
    await expect(matrixRow().textContent()).resolves.toContain(first.request.sha.slice(0, 8));
    await matrixRow().getByText('healthy').waitFor();

    // A second change: merged, built, approved from the inbox, deployed.
    const sha = await commitFiles(project.bareDir, 'main', { 'www/index.html': `<h1>${service} v2</h1>\n` }, 'Merge v2');
    h.gitlab.addMergeRequest(projectId, { iid: 8, authorId: 204 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: projectPath, sha, iid: 8 }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const second = String(res.json['runId']);
    // The page says "changed, reload" when the deploy starts waiting; here the store is asked instead.
    const deadline = Date.now() + 150_000;
    while ((await h.slipway.store.getJob(second, 'deploy:production'))?.status.phase !== 'manual') {
      if (Date.now() > deadline) throw new Error(`run ${second}: deploy:production is not waiting for its approval after 150 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await page.goto(`${h.url}/runs/${second}`);
    const approve = page.getByRole('button', { name: 'Approve deploy:production' });
    await approve.click();
    // The run already says succeeded while its manual deploy waits: the deploy job's own phase is the answer.
    const deployed = Date.now() + 120_000;
    for (;;) {
      const phase = (await h.slipway.store.getJob(second, 'deploy:production'))?.status.phase;
      if (phase === 'success') break;
      if (phase === 'failed' || Date.now() > deployed) throw new Error(`run ${second}: deploy:production is ${phase ?? 'missing'}, not success`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const run = await h.waitForRun(second, ['succeeded', 'failed'], 30_000);
    expect(run.status.phase).toBe('succeeded');
    expect(shortDigest(run.image?.digest)).not.toBe(shortDigest(first.image?.digest));

    await page.goto(`${h.url}/environments`);
    await expect(matrixRow().locator('.digest').textContent()).resolves.toBe(shortDigest(run.image?.digest));
    await expect(matrixRow().textContent()).resolves.toContain(sha.slice(0, 8));
    await page.getByRole('heading', { name: /DORA/ }).waitFor();
    await shot('environments');
  }, 300_000);

  it('rolls back from the release history page: the old release is live again, and deploys resume', async () => {
    await matrixRow()
      .getByRole('link', { name: /Release history/ })
      .click();
    await page.waitForURL(`${h.url}/environments/${service}/production`);
    const rollback = page.locator('tr[data-release="1"] form.rollback');
    await rollback.getByLabel('Reason').fill('v2 shows the wrong title');
    await rollback.getByRole('button', { name: 'Roll back to release 1' }).click();
    await page.waitForURL(`${h.url}/environments/${service}/production`);
    await page.getByText('Automatic deploys to production are paused').waitFor();
    // The rollback (release 3) becomes the live one once its health check passed.
    const deadline = Date.now() + 90_000;
    while (!(await page.locator('tr[data-release="3"].live').count())) {
      if (Date.now() > deadline) throw new Error('rollback 3 did not go live within 90 s');
      await new Promise((r) => setTimeout(r, 1000));
      await page.reload();
    }
    await expect(page.locator('tr[data-release="3"]').textContent()).resolves.toContain('v2 shows the wrong title');
    await shot('release-history');
    const history = (
      await h.api<{ releases: Array<{ id: number; url: string | null; by: string }> }>(`/api/services/${service}/environments/production/releases`)
    ).body;
    const live = history.releases.find((r) => r.id === 3);
    expect(live?.by).toBe('maria');
    const body = await (await fetch(live?.url ?? firstUrl)).text();
    expect(body).toContain(`<h1>${service}</h1>`);
    expect(body).not.toContain('v2');

    await page.getByRole('button', { name: 'Resume automatic deploys' }).click();
    await page.waitForURL(`${h.url}/environments/${service}/production`);
    expect(await page.getByText('Automatic deploys to production are paused').count()).toBe(0);
  }, 180_000);
});
