import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDelivery } from '../../src/webhooks/verify-signature.js';
import type { RunRecord } from '../../src/runs/types.js';
import { deliver, fixture, gitlabHeaders } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

const MAX_BYTES = 16 * 1024; // above every fixture

describe('webhook: bad input gets a clear answer and nothing accepted is lost', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ roles: ['http'], env: { SLIPWAY_WEBHOOK_MAX_BYTES: String(MAX_BYTES) } });
  });
  afterAll(async () => h.stop());

  const runCount = async () => (await h.api<{ runs: RunRecord[] }>('/api/runs?limit=500')).body.runs.length;

  it('refuses a missing token with 401 and says so', async () => {
    const res = await deliver(h.url, 'Push Hook', fixture('push-hook.json'), undefined);
    expect(res.status).toBe(401);
    expect(res.json['error']).toBe('missing X-Gitlab-Token header');
  });

  it('refuses a wrong token with 401 before reading the body', async () => {
    const res = await deliver(h.url, 'Push Hook', 'x'.repeat(MAX_BYTES * 4), 'not-the-secret');
    expect(res.status).toBe(401);
    expect(res.json['error']).toBe('invalid X-Gitlab-Token');
  });

  it('answers malformed JSON with 400 and the parser reason', async () => {
    const res = await deliver(h.url, 'Push Hook', '{"object_kind": "push",', WEBHOOK_SECRET);
    expect(res.status).toBe(400);
    expect(res.json['error']).toMatch(/^malformed JSON: /);
  });

  it('answers a payload missing fields we need with 400 naming the field', async () => {
    const body = fixture('push-hook.json');
    delete body['after'];
    const res = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(400);
    expect(res.json['error']).toContain('after');
  });

  it('answers a body over the limit with 413', async () => {
    const body = { ...fixture('push-hook.json'), padding: 'p'.repeat(MAX_BYTES) };
    const res = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(413);
    expect(res.json['error']).toContain(`${MAX_BYTES}-byte limit`);
  });

  it('answers an unknown event with 202 ignored (GitLab disables hooks that get 4xx)', async () => {
    const res = await deliver(h.url, 'Wiki Page Hook', { object_kind: 'wiki_page' }, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ ignored: "event 'Wiki Page Hook' is not handled" });
  });

  // Each test below varies the commit (or clears the trigger keys), so the project+SHA+kind+ref
  // trigger key cannot dedupe for it: only the delivery key (Idempotency-Key, else the body's hash) can.
  const pushAt = (sha: string) => {
    const body = fixture('push-hook.json') as Record<string, unknown>;
    return Object.assign(body, { checkout_sha: sha, after: sha });
  };
  const sha = () => randomBytes(20).toString('hex');
  /** What 30 days do to the trigger keys (their TTL), while the delivery key is still kept. */
  const expireTriggerKeys = async () => {
    const redis = new Redis({ path: path.join(h.dataDir, 'redis', 'redis.sock') });
    try {
      const keys = await redis.keys(`${h.config.redisPrefix}:trigger:*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  };

  it('makes one pipeline of one Idempotency-Key, even when the resent body differs', async () => {
    const before = await runCount();
    const key = randomUUID();
    const first = await deliver(h.url, 'Push Hook', pushAt(sha()), WEBHOOK_SECRET, { idempotencyKey: key });
    const again = await deliver(h.url, 'Push Hook', pushAt(sha()), WEBHOOK_SECRET, { idempotencyKey: key });
    expect(first.status).toBe(202);
    expect(again).toEqual({ status: 202, json: { duplicateOf: first.json['runId'] } });
    expect(await runCount()).toBe(before + 1);
  });

  it('makes one pipeline of a delivery resent after its trigger keys expired', async () => {
    const key = randomUUID();
    const body = fixture('merge-request-hook-open.json');
    const first = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET, { idempotencyKey: key });
    expect(first.status).toBe(202);
    await expireTriggerKeys();
    const again = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET, { idempotencyKey: key });
    expect(again).toEqual({ status: 202, json: { duplicateOf: first.json['runId'] } });
  });

  it('makes one pipeline of ten concurrent copies of one delivery', async () => {
    const before = await runCount();
    const key = randomUUID();
    // Ten bodies with ten commits: ten trigger keys, one delivery key.
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(h.url, 'Push Hook', pushAt(sha()), WEBHOOK_SECRET, { idempotencyKey: key })));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    const created = answers.filter((a) => 'runId' in a.json);
    expect(created).toHaveLength(1);
    expect(new Set(answers.map((a) => a.json['runId'] ?? a.json['duplicateOf'])).size).toBe(1);
    expect(await runCount()).toBe(before + 1);
  });

  it('dedupes resends from an older GitLab without Idempotency-Key by the body, after the trigger keys expired too', async () => {
    const body = pushAt(sha());
    const first = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET, { idempotencyKey: null });
    expect(first.status).toBe(202);
    await expireTriggerKeys();
    const again = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET, { idempotencyKey: null });
    expect(again.json).toEqual({ duplicateOf: first.json['runId'] });
  });

  it('refuses one project secret used for another project', async () => {
    const other = await startHarness({ roles: ['http'], env: { SLIPWAY_WEBHOOK_PROJECT_SECRETS: JSON.stringify({ 'mike/diaspora': 'diaspora-secret' }) } });
    try {
      const body = fixture('push-hook.json'); // project mike/diaspora
      expect((await deliver(other.url, 'Push Hook', body, WEBHOOK_SECRET)).status).toBe(401);
      expect((await deliver(other.url, 'Push Hook', body, 'diaspora-secret')).status).toBe(202);
      const mr = fixture('merge-request-hook-open.json'); // project gitlabhq/gitlab-test
      const res = await deliver(other.url, 'Merge Request Hook', mr, 'diaspora-secret');
      expect(res.status).toBe(401);
      expect(res.json['error']).toContain('gitlabhq/gitlab-test');
    } finally {
      await other.stop();
    }
  });
});

describe('webhook: Standard Webhooks signatures', () => {
  const signingSecret = `whsec_${Buffer.from('a signing key of 32 bytes length').toString('base64')}`;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ roles: ['http'], env: { SLIPWAY_WEBHOOK_SIGNING_SECRET: signingSecret } });
  });
  afterAll(async () => h.stop());

  const send = async (body: string, sign: { id: string; ts: number; signature?: string }) => {
    const res = await fetch(`${h.url}/webhooks/gitlab`, {
      method: 'POST',
      headers: {
        ...gitlabHeaders('Push Hook', WEBHOOK_SECRET),
        'webhook-id': sign.id,
        'webhook-timestamp': String(sign.ts),
        'webhook-signature': sign.signature ?? signDelivery(Buffer.from(body), sign.id, sign.ts, signingSecret),
      },
      body,
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('accepts a correctly signed delivery', async () => {
    const res = await send(JSON.stringify(fixture('push-hook.json')), { id: randomUUID(), ts: now() });
    expect(res.status).toBe(202);
  });

  it('accepts a delivery signed by the independent standardwebhooks package', async () => {
    const body = JSON.stringify(fixture('push-hook.json'));
    const id = `msg_${randomUUID()}`;
    const ts = now();
    const signature = new Webhook(signingSecret).sign(id, new Date(ts * 1000), body);
    const res = await send(body, { id, ts, signature });
    expect(res.status).toBe(202);
    // The same package's signature for another body is refused.
    const forged = await send(body.replace('master', 'evil'), { id, ts, signature });
    expect(forged).toEqual({ status: 401, json: { error: 'webhook-signature does not match the body' } });
  });

  it('refuses a body changed after signing', async () => {
    const body = JSON.stringify(fixture('push-hook.json'));
    const id = randomUUID();
    const signature = signDelivery(Buffer.from(body), id, now(), signingSecret);
    const res = await send(body.replace('master', 'evil'), { id, ts: now(), signature });
    expect(res).toEqual({ status: 401, json: { error: 'webhook-signature does not match the body' } });
  });

  it('refuses a stale timestamp', async () => {
    const res = await send(JSON.stringify(fixture('push-hook.json')), { id: randomUUID(), ts: now() - 600 });
    expect(res.status).toBe(401);
    expect(res.json['error']).toMatch(/5 minutes/);
  });

  it('refuses an unsigned delivery when signing is configured', async () => {
    const res = await deliver(h.url, 'Push Hook', fixture('push-hook.json'), WEBHOOK_SECRET);
    expect(res.status).toBe(401);
    expect(res.json['error']).toMatch(/webhook-signature/);
  });
});
