import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { LastDeploymentRecord, newerApplied, supersededReason, type LastDeployment } from '../../src/deploy/newest-wins.js';
import { newRunId } from '../../src/runs/run-id.js';

// Which deploy wins an environment, on the services' real Redis (own key prefix). The whole path
// through a running Slipway is in deploy-contention.test.ts; this covers what it cannot time:
// runs created in the same millisecond, and a late write that must not move the record back.
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390', { lazyConnect: true, maxRetriesPerRequest: 1 });
const prefix = `newest-wins-${randomBytes(4).toString('hex')}`;
const record = (env: string) => new LastDeploymentRecord(redis, `${prefix}:env:svc:${env}`);

const run = (createdAt: string, id = newRunId(Date.parse(createdAt))) => ({ runId: id, createdAt });
const deployed = (r: { runId: string; createdAt: string }, sha: string): LastDeployment => ({
  runId: r.runId,
  runCreatedAt: r.createdAt,
  sha,
  at: '2025-06-01T10:00:05.000Z',
});

describe('the newest pipeline wins an environment', () => {
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('a run created before the last deployed one is superseded by it, with the reason users see', async () => {
    const older = run('2025-06-01T10:00:00.000Z');
    const newer = run('2025-06-01T10:00:01.000Z');
    const pre = record('pre');
    expect(await pre.record(deployed(newer, 'b'.repeat(40)))).toBe(true);
    const winner = await newerApplied(pre, older);
    expect(winner?.runId).toBe(newer.runId);
    expect(supersededReason(winner as LastDeployment, 'pre')).toBe(
      `superseded: run ${newer.runId} (newer, pipeline for bbbbbbbb) deployed pre at 2025-06-01T10:00:05.000Z`,
    );
    // The newer run itself (a redelivered job) and anything created later still deploy.
    expect(await newerApplied(pre, newer)).toBeNull();
    expect(await newerApplied(pre, run('2025-06-01T10:00:02.000Z'))).toBeNull();
    // Nothing deployed yet: nothing supersedes.
    expect(await newerApplied(record('empty'), older)).toBeNull();
  });

  it('runs created in the same millisecond are ordered by their ids', async () => {
    const at = '2025-06-01T10:00:00.000Z';
    const [first, second] = [run(at, `${Date.parse(at).toString(36)}-00000aaaaa`), run(at, `${Date.parse(at).toString(36)}-ffffffffff`)];
    const pre = record('same-ms');
    await pre.record(deployed(second, 'c'.repeat(40)));
    expect((await newerApplied(pre, first))?.runId).toBe(second.runId);
    expect(await pre.record(deployed(first, 'd'.repeat(40)))).toBe(false);
  });

  it('a late write by an older run never replaces a newer record', async () => {
    const older = run('2025-06-01T10:00:00.000Z');
    const newer = run('2025-06-01T10:00:03.000Z');
    const pre = record('late');
    expect(await pre.record(deployed(newer, 'e'.repeat(40)))).toBe(true);
    expect(await pre.record(deployed(older, 'f'.repeat(40)))).toBe(false);
    expect((await pre.read())?.runId).toBe(newer.runId);
    // Records per environment: another environment is not affected.
    expect(await record('prod').record(deployed(older, 'f'.repeat(40)))).toBe(true);
  });
});
