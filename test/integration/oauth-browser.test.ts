import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startOAuthHarness } from '../helpers/oauth-flow.js';
import { type Harness, WEBHOOK_SECRET } from '../helpers/slipway-harness.js';

const CHROMIUM = process.env['SLIPWAY_CHROMIUM'] ?? '/usr/bin/chromium';
const SHOTS = path.resolve(import.meta.dirname, '../../test-results/web-ui');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`OAuth browser test SKIPPED: no chromium at ${CHROMIUM} (install Debian's chromium: bash .ci/services.sh install)`);

// "Sign in with GitLab" in a real browser (Debian's chromium driven by playwright-core, headless, a
// fresh profile): a run page sends the browser to sign in, the button goes through the GitLab
// stand-in's /oauth/authorize (approving at once for the person signed in there) and back, and the
// browser lands on the run page signed in, with the role GitLab gives (a Developer: Cancel run).
describe.skipIf(!haveChromium)('sign-in with GitLab OAuth in a browser', { timeout: 90_000 }, () => {
  let h: Harness;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const projectId = 22000 + Math.floor(Math.random() * 1000);
  const projectPath = `team/oauth-browser-${projectId}`;
  let runId = '';

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    ({ h } = await startOAuthHarness({ roles: ['http'] }));
    await h.gitlab.addProject({ id: projectId, pathWithNamespace: projectPath, defaultBranch: 'main' });
    h.gitlab.addUser({ id: 601, username: 'maria', name: 'Maria Ops' });
    h.gitlab.setMember(projectId, 601, 30);
    h.gitlab.oauthSignIn(601);
    const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: projectPath, sha: 'c'.repeat(40), branch: 'main' }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    runId = String(res.json['runId']);
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
    const unexpected = h?.gitlab.unexpectedCalls();
    await h?.stop();
    expect(unexpected).toEqual([]);
  });

  it('clicks Sign in with GitLab and lands on the page asked for, signed in as a Developer', async () => {
    const visited: string[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest()) visited.push(r.url());
    });
    await page.goto(`${h.url}/runs/${runId}`);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.screenshot({ path: path.join(SHOTS, 'sign-in-oauth.png'), fullPage: true });
    await page.getByRole('link', { name: 'Sign in with GitLab' }).click();
    await page.waitForURL(`${h.url}/runs/${runId}`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(runId);
    await page.getByText('Maria Ops (@maria)').waitFor();
    await page.getByRole('button', { name: 'Cancel run' }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'run-page-oauth.png'), fullPage: true });

    // The way there: Slipway's start, GitLab's authorize, the callback with code and state, the run page.
    expect(visited.map((u) => new URL(u).pathname)).toEqual([
      `/runs/${runId}`,
      '/sign-in',
      '/sign-in/gitlab',
      '/oauth/authorize',
      '/sign-in/gitlab/callback',
      `/runs/${runId}`,
    ]);
    const tokens = h.gitlab.oauthTokens();
    expect(tokens).toHaveLength(1);
    for (const u of visited) {
      expect(u).not.toContain(tokens[0]?.accessToken);
      expect(u).not.toContain(tokens[0]?.refreshToken);
    }
    const cookies = await context.cookies(h.url);
    expect(cookies.find((c) => c.name === 'slipway_session')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
    expect(cookies.find((c) => c.name === 'slipway_oauth_state')).toBeUndefined();
  });
});
