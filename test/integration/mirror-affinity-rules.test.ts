import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MirrorAffinity } from '../../src/git/mirror-affinity.js';

// The rules that keep affinity from starving a project, on a real Redis: a job waits for the
// node holding the mirror only while it is young and that node is alive.
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390', { lazyConnect: true, maxRetriesPerRequest: 1 });
const prefix = `affinity-rules-${randomBytes(4).toString('hex')}`;
const WAIT_MS = 5_000;
const node = (id: string) => new MirrorAffinity(redis, prefix, id, WAIT_MS);

afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('mirror affinity rules', () => {
  it('a young job waits for the live holder; an old one, or one whose holder is gone, runs where it is', async () => {
    const holder = node('holder');
    const stopHolder = holder.startHeartbeat();
    const other = node('other');
    other.startHeartbeat()();
    await holder.recordHolder(42);

    expect(await other.preferredElsewhere(42, 0)).toBe('holder');
    expect(await other.preferredElsewhere(42, WAIT_MS - 1)).toBe('holder');
    // Old enough: run here, whoever holds the mirror (no starvation behind a busy holder).
    expect(await other.preferredElsewhere(42, WAIT_MS)).toBeUndefined();
    // The holder itself, and a project nobody holds, run at once.
    expect(await holder.preferredElsewhere(42, 0)).toBeUndefined();
    expect(await other.preferredElsewhere(43, 0)).toBeUndefined();

    // A dead holder (its heartbeat key expired) is not waited for.
    stopHolder();
    await redis.del(`${prefix}:node:holder`);
    expect(await other.preferredElsewhere(42, 0)).toBeUndefined();
  });

  it('a node that runs no build jobs never claims a mirror', async () => {
    const planner = node('planner-only');
    await planner.recordHolder(44);
    expect(await node('builder').preferredElsewhere(44, 0)).toBeUndefined();
    expect(await redis.get(`${prefix}:mirror-holder:44`)).toBeNull();
  });
});
