import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedRedis } from '../../src/embedded/redis-server.js';
import { createMasker } from '../../src/logging/mask.js';
import { RunStore } from '../../src/runs/run-store.js';
import type { PipelineRequest } from '../../src/triggers/types.js';

describe('the embedded Redis (no REDIS_URL)', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'slipway-redis-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('runs durable (fsync on every write) and never evicts queue keys', async () => {
    const redis = await startEmbeddedRedis(tempDir(), () => undefined);
    const c = new Redis({ path: redis.socketPath });
    try {
      expect(await c.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
      expect(await c.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await c.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      c.disconnect();
      await redis.stop();
    }
  });

  it('keeps an event it acknowledged when the server is killed (SIGKILL, no shutdown)', async () => {
    // A graceful SHUTDOWN writes the data out whatever the settings; a crash does not. Only what
    // reached the AOF before the acknowledgement survives SIGKILL.
    const dir = tempDir();
    const first = await startEmbeddedRedis(dir, () => undefined);
    const c = new Redis({ path: first.socketPath });
    const request: PipelineRequest = {
      kind: 'ci',
      event: 'push',
      project: { id: 7, path: 'team/app', defaultBranch: 'main', webUrl: undefined },
      sha: 'a'.repeat(40),
      ref: 'main',
      before: undefined,
      mergeRequest: undefined,
      actor: 'dev',
    };
    const { runId, created } = await new RunStore(c, createMasker([])).accept(request, 'delivery-key-1', 'delivery-1');
    expect(created).toBe(true);
    const pid = Number(readFileSync(path.join(dir, 'redis', 'redis.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    c.disconnect();
    const deadline = Date.now() + 10_000;
    while (alive(pid)) {
      if (Date.now() > deadline) throw new Error(`redis-server ${pid} still alive 10 s after SIGKILL`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // first.stop() is not called: the server is gone, and its socket path now belongs to the next one.
    const second = await startEmbeddedRedis(dir, () => undefined);
    const d = new Redis({ path: second.socketPath });
    try {
      const run = await new RunStore(d, createMasker([])).get(runId);
      expect(run?.request.sha).toBe(request.sha);
      expect(run?.status.phase).toBe('received');
    } finally {
      d.disconnect();
      await second.stop();
    }
  });

  it('names the Debian package when redis-server is missing', async () => {
    const saved = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await expect(startEmbeddedRedis(tempDir(), () => undefined)).rejects.toThrow('install the Debian package redis-server');
    } finally {
      process.env['PATH'] = saved;
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
