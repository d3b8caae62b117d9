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
});
