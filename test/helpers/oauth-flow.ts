import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Role } from '../../src/slipway.js';
import { startFakeGitlab } from '../../src/standins/gitlab/gitlab-server.js';
import { startHarness, type Harness } from './slipway-harness.js';
import { cookieValue } from './web-session.js';

/** A port free now, for a Slipway whose public URL (the OAuth redirect URI) must be known before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A running Slipway with sign-in with GitLab OAuth configured against the GitLab stand-in: the
 * application registered there with Slipway's callback, the secret given in a file.
 */
export async function startOAuthHarness(opts: { roles?: readonly Role[] } = {}): Promise<{
  h: Harness;
  app: { clientId: string; secret: string };
}> {
  const port = await freePort();
  const gitlab = await startFakeGitlab();
  const publicUrl = `http://127.0.0.1:${port}`;
  const app = gitlab.addOAuthApplication({ redirectUri: `${publicUrl}/sign-in/gitlab/callback` });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'slipway-test-'));
  // In the data dir, which the harness removes when it stops.
  const secretFile = path.join(dataDir, 'gitlab-oauth-secret');
  writeFileSync(secretFile, `${app.secret}\n`, { mode: 0o600 });
  const h = await startHarness({
    ...(opts.roles ? { roles: opts.roles } : {}),
    reuse: { gitlab, dataDir },
    env: {
      SLIPWAY_PORT: String(port),
      SLIPWAY_PUBLIC_URL: publicUrl,
      SLIPWAY_GITLAB_OAUTH_APP_ID: app.clientId,
      SLIPWAY_GITLAB_OAUTH_SECRET_FILE: secretFile,
    },
  });
  return { h, app };
}

/** One trip of the browser through the flow, by hand: Slipway's start, GitLab's authorize, and the callback URL it sends back to. */
export async function startFlow(url: string, next = '/pipelines'): Promise<{ authorize: URL; stateCookie: string; setCookie: string; callback: URL }> {
  const start = await fetch(`${url}/sign-in/gitlab?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
  if (start.status !== 303) throw new Error(`GET /sign-in/gitlab answered ${start.status}`);
  const setCookie = start.headers.get('set-cookie') ?? '';
  const authorize = new URL(start.headers.get('location') ?? '');
  const at = await fetch(authorize, { redirect: 'manual' });
  if (at.status !== 302) throw new Error(`GitLab's /oauth/authorize answered ${at.status}: ${await at.text()}`);
  return {
    authorize,
    setCookie,
    stateCookie: `slipway_oauth_state=${cookieValue(setCookie, 'slipway_oauth_state') ?? ''}`,
    callback: new URL(at.headers.get('location') ?? ''),
  };
}

/** The browser arriving at the callback (with the cookies given), as a page. */
export function arrive(callback: URL | string, cookie: string): Promise<Response> {
  return fetch(callback, { redirect: 'manual', headers: { cookie, accept: 'text/html' } });
}
