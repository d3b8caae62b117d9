import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { CanaryPauses } from '../../src/runs/canary-pause.js';

// The record a paused canary waits on, on the services' real Redis (own key prefix): what a deploy
// job retried after a worker crash finds when it reaches the same pause again.
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390', { lazyConnect: true, maxRetriesPerRequest: 1 });
const prefix = `canary-pause-${randomBytes(4).toString('hex')}`;
const pauses = new CanaryPauses(redis, prefix);
const at = { step: 2, of: 3, weight: 10, maxWaitMs: 60_000 };

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('the canary pause record', () => {
  it('a retried job reaching the same pause keeps its deadline and any decision made meanwhile', async () => {
    const first = await pauses.open('r1', 'deploy:staging', at);
    expect(await pauses.waiting('r1', 'deploy:staging')).toEqual(first);
    await new Promise((r) => setTimeout(r, 20));
    // The worker crashed; the approval arrived while no job polled.
    expect(await pauses.decide('r1', 'deploy:staging', 2, { kind: 'approved', by: ['ann'], at: new Date().toISOString() })).toBe(true);
    const again = await pauses.open('r1', 'deploy:staging', at);
    expect(again.deadline).toBe(first.deadline);
    expect(again.decision).toMatchObject({ kind: 'approved', by: ['ann'] });
    expect(await pauses.waiting('r1', 'deploy:staging')).toBeNull();
    // Decided once: a second decision is not recorded.
    expect(await pauses.decide('r1', 'deploy:staging', 2, { kind: 'rejected', by: 'bert', reason: 'late', at: new Date().toISOString() })).toBe(false);
  });

  it('each pause is its own record, and an ended canary forgets them (a retried deploy asks again)', async () => {
    await pauses.open('r2', 'deploy:staging', at);
    await pauses.decide('r2', 'deploy:staging', 2, { kind: 'approved', by: ['ann'], at: new Date().toISOString() });
    const next = await pauses.open('r2', 'deploy:staging', { ...at, step: 4, weight: 50 });
    expect(await pauses.waiting('r2', 'deploy:staging')).toEqual(next);
    expect((await pauses.read('r2', 'deploy:staging', 2))?.decision?.kind).toBe('approved');
    await pauses.close('r2', 'deploy:staging');
    expect(await pauses.read('r2', 'deploy:staging', 2)).toBeNull();
    expect((await pauses.open('r2', 'deploy:staging', at)).decision).toBeUndefined();
  });
});
