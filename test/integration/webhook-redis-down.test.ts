import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

describe('webhook when Redis is down', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ roles: ['http'] });
  });
  afterAll(async () => h.stop());

  it('answers 503 at once, never 2xx, so GitLab can resend', async () => {
    const ok = await deliver(h.url, 'Push Hook', fixture('push-hook.json'), WEBHOOK_SECRET);
    expect(ok.status).toBe(202);
    const pid = Number(readFileSync(path.join(h.dataDir, 'redis', 'redis.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const body = fixture('merge-request-hook-open.json');
      const started = Date.now();
      const res = await deliver(h.url, 'Merge Request Hook', body, WEBHOOK_SECRET);
      expect(res.status).toBe(503);
      expect(res.json['error']).toMatch(/resend/);
      expect(Date.now() - started).toBeLessThan(8_000);
    }
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(503);
  });
});
