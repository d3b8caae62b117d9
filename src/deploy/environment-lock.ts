import type { Cluster, Redis } from 'ioredis';
import { RELEASE_IF_HOLDER } from '../runs/run-lock.js';

/**
 * One deploy at a time per (service, environment). The lock expires by itself, so a crashed
 * worker cannot block an environment forever; only the holder can release it.
 */
export class EnvironmentLock {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {}

  /** Returns null when acquired, else the run id that holds it (the "why is this waiting" answer). */
  async acquire(runId: string): Promise<string | null> {
    const ok = await this.redis.set(this.key, runId, 'PX', this.ttlMs, 'NX');
    if (ok === 'OK') return null;
    const holder = await this.redis.get(this.key);
    if (holder === runId) return null; // our own earlier attempt
    return holder ?? 'unknown';
  }

  async release(runId: string): Promise<void> {
    await this.redis.eval(RELEASE_IF_HOLDER, 1, this.key, runId);
  }
}
