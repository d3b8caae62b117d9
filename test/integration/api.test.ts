import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

describe('runs API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ roles: ['http'] });
  });
  afterAll(async () => h.stop());

  it('needs the bearer token', async () => {
    const res = await fetch(`${h.url}/api/runs`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/bearer token/);
    const wrong = await fetch(`${h.url}/api/runs`, { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('refuses the token in the query string (browser history, proxy and access logs keep URLs)', async () => {
    for (const path of [`/api/runs?token=${h.slipway.apiToken}`, `/api/runs?project=15&token=${h.slipway.apiToken}`]) {
      const res = await fetch(`${h.url}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(((await res.json()) as { error: string }).error).toBe(
        'the API token is not accepted in the URL (?token=): send it in the Authorization header (Authorization: Bearer <SLIPWAY_API_TOKEN>)',
      );
    }
    // Also with the right header: the token in the URL has leaked already, and the client must learn.
    const both = await fetch(`${h.url}/api/runs?token=${h.slipway.apiToken}`, { headers: { Authorization: `Bearer ${h.slipway.apiToken}` } });
    expect(both.status).toBe(401);
    expect((await fetch(`${h.url}/api/runs`, { headers: { Authorization: `Bearer ${h.slipway.apiToken}` } })).status).toBe(200);
  });

  it('lists runs by project, newest first, and answers 404 and 400 clearly', async () => {
    const push = await deliver(h.url, 'Push Hook', fixture('push-hook.json'), WEBHOOK_SECRET); // project 15
    const mr = await deliver(h.url, 'Merge Request Hook', fixture('merge-request-hook-open.json'), WEBHOOK_SECRET); // project 1
    const p15 = await h.api<{ runs: RunRecord[] }>('/api/runs?project=15');
    expect(p15.body.runs.map((r) => r.id)).toEqual([push.json['runId']]);
    const all = await h.api<{ runs: RunRecord[] }>('/api/runs');
    expect(all.body.runs.map((r) => r.id)).toEqual([mr.json['runId'], push.json['runId']]);
    expect((await h.api('/api/runs/nope')).status).toBe(404);
    expect(await h.api('/api/runs?project=abc')).toEqual({ status: 400, body: { error: 'project must be a numeric GitLab project id' } });
  });

  it('health and readiness answer', async () => {
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${h.url}/readyz`)).json()).toEqual({ ok: true });
  });

  it('never logs the GitLab token or the webhook secret', async () => {
    await deliver(h.url, 'Push Hook', fixture('push-hook.json'), 'wrong-secret-attempt');
    const text = h.logs.join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(h.gitlab.token);
    expect(text).not.toContain(WEBHOOK_SECRET);
  });
});
