import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { arrive, startFlow, startOAuthHarness } from '../helpers/oauth-flow.js';
import type { Harness } from '../helpers/slipway-harness.js';
import { WEBHOOK_SECRET } from '../helpers/slipway-harness.js';
import { cookieValue } from '../helpers/web-session.js';

// Sign-in with GitLab OAuth (the authorization code flow with PKCE) against the GitLab stand-in,
// through a running Slipway's HTTP role, by plain HTTP as a browser would go: the state bound to
// the browser, the code exchanged once server-side, the role from GitLab through the person's own
// token, refresh, and the refusals (state mismatch, code reuse, denied, token endpoint down), with no
// token in any URL or log line.
describe('sign-in with GitLab OAuth', { timeout: 60_000 }, () => {
  let h: Harness;
  let app: { clientId: string; secret: string };
  const base = 21000 + Math.floor(Math.random() * 1000);
  const projects = [base, base + 1, base + 2, base + 3];
  const runs: string[] = [];
  /** Every URL the browser was sent to (Location headers), for the no-token-in-URLs check. */
  const visited: string[] = [];

  /** startFlow, keeping the URLs the browser went to. */
  const flowTo = async (next?: string) => {
    const flow = await startFlow(h.url, next);
    visited.push(flow.authorize.toString(), flow.callback.toString());
    return flow;
  };
  const signInAs = async (userId: number, next = '/pipelines') => {
    h.gitlab.oauthSignIn(userId);
    const flow = await flowTo(next);
    const res = await arrive(flow.callback, flow.stateCookie);
    visited.push(res.headers.get('location') ?? '');
    return { flow, res, cookie: `slipway_session=${cookieValue(res.headers.get('set-cookie'), 'slipway_session') ?? ''}` };
  };
  const page = (p: string, cookie: string) => fetch(`${h.url}${p}`, { redirect: 'manual', headers: { cookie, accept: 'text/html' } });

  beforeAll(async () => {
    ({ h, app } = await startOAuthHarness({ roles: ['http'] }));
    h.gitlab.addUser({ id: 501, username: 'olga', name: 'Olga Dev' });
    h.gitlab.addUser({ id: 502, username: 'rita' });
    for (const [i, id] of projects.entries()) {
      const path = `team/oauth-${id}`;
      await h.gitlab.addProject({ id, pathWithNamespace: path, defaultBranch: 'main' });
      // olga: Developer of every project; rita: Reporter of the first.
      h.gitlab.setMember(id, 501, 30);
      if (i === 0) h.gitlab.setMember(id, 502, 20);
      const res = await deliver(
        h.url,
        'Push Hook',
        pushEvent({ projectId: id, path, sha: `${String(i + 1).repeat(8)}${'0'.repeat(32)}`, branch: 'main' }),
        WEBHOOK_SECRET,
      );
      expect(res.status).toBe(202);
      runs.push(String(res.json['runId']));
    }
  });
  afterAll(async () => {
    const unexpected = h?.gitlab.unexpectedCalls();
    await h?.stop();
    expect(unexpected).toEqual([]);
  });

  it('offers Sign in with GitLab, sends the browser to /oauth/authorize with state and an S256 challenge, and signs in with the role GitLab gives', async () => {
    const form = await (await fetch(`${h.url}/sign-in?next=/approvals`)).text();
    expect(form).toContain('<a class="button" href="/sign-in/gitlab?next=%2Fapprovals">Sign in with GitLab</a>');

    h.gitlab.oauthSignIn(501);
    const flow = await flowTo(`/runs/${runs[0]}`);
    const q = flow.authorize.searchParams;
    expect(`${flow.authorize.origin}${flow.authorize.pathname}`).toBe(`${h.gitlab.url}/oauth/authorize`);
    expect(Object.fromEntries(q)).toMatchObject({
      client_id: app.clientId,
      redirect_uri: `${h.url}/sign-in/gitlab/callback`,
      response_type: 'code',
      scope: 'read_api',
      code_challenge_method: 'S256',
    });
    expect(q.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(q.get('state')).toMatch(/^[\w-]{43}$/);
    // The state is bound to this browser: HttpOnly, SameSite=Lax (GitLab's redirect back is a top-level GET), only for the callback.
    expect(flow.stateCookie).toBe(`slipway_oauth_state=${q.get('state')}`);
    expect(flow.setCookie).toMatch(/HttpOnly/i);
    expect(flow.setCookie).toMatch(/SameSite=Lax/i);
    expect(flow.setCookie).toMatch(/Path=\/sign-in\/gitlab\/callback/i);
    expect(flow.callback.searchParams.get('state')).toBe(q.get('state'));

    const res = await arrive(flow.callback, flow.stateCookie);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/runs/${runs[0]}`);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/slipway_session=[\w-]{43}; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/);
    const cookie = `slipway_session=${cookieValue(setCookie, 'slipway_session') ?? ''}`;

    // A Developer of the project: the run page offers Cancel (Developers and up); GitLab was asked with olga's token.
    const run = await page(`/runs/${runs[0]}`, cookie);
    expect(run.status).toBe(200);
    const text = await run.text();
    expect(text).toContain('Olga Dev (@olga)');
    expect(text).toContain('Cancel run');
    const issued = h.gitlab.oauthTokens().filter((t) => t.userId === 501);
    expect(issued).toHaveLength(1);
    expect(issued[0]?.scopes).toEqual(['read_api']);

    // rita, a Reporter: sees the run, without Cancel.
    const rita = await signInAs(502, `/runs/${runs[0]}`);
    const seen = await (await page(`/runs/${runs[0]}`, rita.cookie)).text();
    expect(seen).toContain('(@rita)');
    expect(seen).not.toContain('Cancel run');
  });

  it('refuses a callback whose state is not the one this browser started, and one from a browser that started none', async () => {
    h.gitlab.oauthSignIn(501);
    const mine = await flowTo();
    const theirs = await flowTo();
    // The attacker's callback (their code and state) in the victim's browser (the victim's state cookie).
    const mixed = await arrive(theirs.callback, mine.stateCookie);
    expect(mixed.status).toBe(400);
    expect(await mixed.text()).toContain('The state GitLab sent back does not match the sign-in this browser started');
    expect(cookieValue(mixed.headers.get('set-cookie'), 'slipway_session')).toBeUndefined();
    const none = await arrive(theirs.callback, '');
    expect(none.status).toBe(400);
    expect(await none.text()).toContain('This sign-in did not start in this browser');
    // As JSON for a script.
    const json = await fetch(theirs.callback, { headers: { cookie: mine.stateCookie } });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toMatch(/^The state GitLab sent back does not match/);
  });

  it('uses a code once: the same callback again, or the code with another sign-in, is refused', async () => {
    const first = await signInAs(501);
    expect(first.res.status).toBe(303);
    const again = await arrive(first.flow.callback, first.flow.stateCookie);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('This sign-in has expired or was already completed');

    // A fresh sign-in of this browser, but the old code: Slipway exchanges it, GitLab refuses it (used; and not this sign-in's PKCE verifier).
    const fresh = await flowTo();
    const replay = new URL(fresh.callback);
    replay.searchParams.set('code', first.flow.callback.searchParams.get('code') ?? '');
    const reused = await arrive(replay, fresh.stateCookie);
    expect(reused.status).toBe(400);
    expect(await reused.text()).toContain('GitLab refused the authorization code (invalid_grant)');
    expect(cookieValue(reused.headers.get('set-cookie'), 'slipway_session')).toBeUndefined();
  });

  it('says so when the person denies access at GitLab (403) or the token endpoint fails (502)', async () => {
    h.gitlab.oauthSignIn(501);
    h.gitlab.oauthDeny(true);
    try {
      const flow = await flowTo();
      expect(flow.callback.searchParams.get('error')).toBe('access_denied');
      const denied = await arrive(flow.callback, flow.stateCookie);
      expect(denied.status).toBe(403);
      expect(await denied.text()).toContain('GitLab did not grant Slipway access (access_denied)');
    } finally {
      h.gitlab.oauthDeny(false);
    }
    h.gitlab.failNext({ method: 'POST', pathIncludes: '/oauth/token' }, 503, 3);
    const flow = await flowTo();
    const down = await arrive(flow.callback, flow.stateCookie);
    expect(down.status).toBe(502);
    expect(await down.text()).toContain('GitLab&#39;s token endpoint answered HTTP 503');
  });

  it('refreshes an expiring access token and goes on with the new one; a refused refresh signs the person out', async () => {
    h.gitlab.oauthTokenLifetime(30); // within the minute Slipway refreshes ahead
    const s = await signInAs(501);
    h.gitlab.oauthTokenLifetime(7200);
    const before = h.gitlab.oauthTokens().length;
    // A project not looked up yet for this session: GitLab is asked, with the refreshed token.
    const res = await page(`/runs/${runs[1]}`, s.cookie);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Cancel run');
    const tokens = h.gitlab.oauthTokens();
    expect(tokens).toHaveLength(before + 1);
    const [old, renewed] = tokens.slice(-2);
    expect(old?.revoked).toBe(true);
    expect(renewed).toMatchObject({ userId: 501, revoked: false, code: null });
    // The same cookie goes on: no second refresh while the new token is fresh.
    expect((await page(`/runs/${runs[1]}`, s.cookie)).status).toBe(200);
    expect(h.gitlab.oauthTokens()).toHaveLength(before + 1);

    // Revoked in GitLab: the next lookup with it ends the session and sends the browser to sign in.
    h.gitlab.revokeOAuthTokens(501);
    const ended = await page(`/runs/${runs[2]}`, s.cookie);
    expect(ended.status).toBe(303);
    expect(ended.headers.get('location')).toBe(`/sign-in?next=${encodeURIComponent(`/runs/${runs[2]}`)}`);
    expect(ended.headers.get('set-cookie')).toMatch(/slipway_session=;/);
    expect((await page('/pipelines', s.cookie)).status).toBe(303);

    // An expired token whose refresh GitLab refuses: signed out at the next request.
    h.gitlab.oauthTokenLifetime(30);
    const t = await signInAs(501);
    h.gitlab.revokeOAuthTokens(501);
    const out = await page('/pipelines', t.cookie);
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/sign-in?next=%2Fpipelines');
    h.gitlab.oauthTokenLifetime(7200);
  });

  it('puts no token, code verifier or client secret in any URL or log line', async () => {
    const tokens = h.gitlab.oauthTokens().flatMap((t) => [t.accessToken, t.refreshToken]);
    expect(tokens.length).toBeGreaterThan(4);
    const urls = [...visited, ...h.gitlab.calls.map((c) => `${c.path}?${new URLSearchParams(c.query).toString()}`)];
    for (const secret of [...tokens, app.secret]) {
      for (const u of urls) expect(u).not.toContain(secret);
      for (const line of h.logs) expect(line).not.toContain(secret);
    }
    // Codes are in the callback's query (OAuth's design) but in no log line.
    const codes = visited.flatMap((u) => new URL(u, h.url).searchParams.getAll('code'));
    expect(codes.length).toBeGreaterThan(2);
    for (const code of codes) for (const line of h.logs) expect(line).not.toContain(code);
    // PKCE: each code exchange sent the verifier (in the POST body only) whose S256 is a challenge an authorize URL carried.
    const challenges = visited.filter((x) => x.includes('/oauth/authorize')).map((u) => new URL(u).searchParams.get('code_challenge'));
    const exchanges = h.gitlab.calls.filter(
      (c) => c.path === '/oauth/token' && (c.body as Record<string, string> | null)?.['grant_type'] === 'authorization_code',
    );
    expect(exchanges.length).toBeGreaterThan(2);
    for (const c of exchanges) {
      const verifier = (c.body as Record<string, string>)['code_verifier'] ?? '';
      expect(verifier).toMatch(/^[\w-]{43}$/);
      expect(challenges).toContain(createHash('sha256').update(verifier).digest('base64url'));
      for (const u of urls) expect(u).not.toContain(verifier);
    }
    expect(h.logs.some((l) => l.includes('"via":"gitlab-oauth"'))).toBe(true);
  });
});
