import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { runKeys } from './keys.js';

/**
 * A canary waiting at a `pause: {}` for an approval. The deploy job keeps running (and holding its
 * environment) and polls this record; the approvals code writes the decision into it. Both sides
 * import it from here, so neither imports the other.
 */
const pauseSchema = z.object({
  /** 1-based index of the pause among the canary's steps. */
  step: z.number().int().min(1),
  of: z.number().int().min(1),
  weight: z.number().int().min(0).max(100),
  since: z.string(),
  /** ISO time after which the canary is aborted, undecided. */
  deadline: z.string(),
  decision: z
    .discriminatedUnion('kind', [
      z.object({ kind: z.literal('approved'), by: z.array(z.string()), at: z.string() }),
      z.object({ kind: z.literal('rejected'), by: z.string(), reason: z.string(), at: z.string() }),
    ])
    .optional(),
});
export type CanaryPause = z.infer<typeof pauseSchema>;
export type CanaryPauseDecision = NonNullable<CanaryPause['decision']>;

/** How long a `pause: {}` waits for a decision at most; then the canary is aborted, saying so. */
export const CANARY_APPROVAL_MAX_WAIT_MS = 24 * 3600_000;

export class CanaryPauses {
  private readonly keys;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.keys = runKeys(prefix);
  }

  /**
   * The deploy job reaches a pause: the record of that step, created now or, when a job retried
   * after a worker crash reaches the same step again, the one already there, with its deadline and
   * any decision made meanwhile.
   */
  async open(runId: string, job: string, at: { step: number; of: number; weight: number; maxWaitMs: number }): Promise<CanaryPause> {
    const key = this.keys.canaryPause(runId, job);
    const existing = (await this.all(runId, job)).find((p) => p.step === at.step);
    if (existing) {
      if (!existing.decision) await this.redis.zadd(this.keys.canaryPausesWaiting, 'NX', Date.parse(existing.since), member(runId, job));
      return existing;
    }
    const now = Date.now();
    const pause: CanaryPause = {
      step: at.step,
      of: at.of,
      weight: at.weight,
      since: new Date(now).toISOString(),
      deadline: new Date(now + at.maxWaitMs).toISOString(),
    };
    await this.redis.hset(key, String(at.step), JSON.stringify(pause));
    await this.redis.pexpire(key, at.maxWaitMs + 3600_000);
    await this.redis.zadd(this.keys.canaryPausesWaiting, 'NX', now, member(runId, job));
    return pause;
  }

  /** Every pause of the job's current canary, by step. */
  async all(runId: string, job: string): Promise<CanaryPause[]> {
    const key = this.keys.canaryPause(runId, job);
    return Object.entries(await this.redis.hgetall(key))
      .map(([step, raw]) => {
        const parsed = pauseSchema.safeParse(JSON.parse(raw));
        if (!parsed.success) throw new Error(`${key}: the canary pause at step ${step} is not readable: ${parsed.error.issues[0]?.message ?? ''}`);
        return parsed.data;
      })
      .sort((a, b) => a.step - b.step);
  }

  async read(runId: string, job: string, step: number): Promise<CanaryPause | null> {
    return (await this.all(runId, job)).find((p) => p.step === step) ?? null;
  }

  /** The pause the canary waits at, undecided, or null. */
  async waiting(runId: string, job: string): Promise<CanaryPause | null> {
    return (await this.all(runId, job)).find((p) => !p.decision) ?? null;
  }

  /** Records the decision for the pause at `step`; false when that pause is no longer waiting. Callers hold the approval lock. */
  async decide(runId: string, job: string, step: number, decision: CanaryPauseDecision): Promise<boolean> {
    const pause = await this.read(runId, job, step);
    if (!pause || pause.decision) return false;
    await this.redis.hset(this.keys.canaryPause(runId, job), String(step), JSON.stringify({ ...pause, decision }));
    await this.redis.zrem(this.keys.canaryPausesWaiting, member(runId, job));
    return true;
  }

  /** The canary ended (promoted or aborted): its pauses are forgotten, so a retried job waits for a new approval. */
  async close(runId: string, job: string): Promise<void> {
    await this.redis.del(this.keys.canaryPause(runId, job));
    await this.redis.zrem(this.keys.canaryPausesWaiting, member(runId, job));
  }

  /**
   * The deploy jobs whose canary waits at a pause, oldest first (at most `limit`). An entry a
   * crashed worker left behind goes once no pause can still wait (its deadline is past); readers
   * check the pause itself before they act on one.
   */
  async waitingList(limit = 200): Promise<Array<{ runId: string; job: string; since: number }>> {
    await this.trim();
    const raw = await this.redis.zrange(this.keys.canaryPausesWaiting, 0, limit - 1, 'WITHSCORES');
    const out: Array<{ runId: string; job: string; since: number }> = [];
    for (let i = 0; i < raw.length; i += 2) {
      const entry = raw[i] ?? '';
      // Run ids have no ':' (run-id.ts); job names may.
      const at = entry.indexOf(':');
      if (at > 0) out.push({ runId: entry.slice(0, at), job: entry.slice(at + 1), since: Number(raw[i + 1]) });
    }
    return out;
  }

  /** How many canaries wait at a pause (for slipway_approvals_waiting). */
  async waitingCount(): Promise<number> {
    await this.trim();
    return this.redis.zcard(this.keys.canaryPausesWaiting);
  }

  private async trim(): Promise<void> {
    await this.redis.zremrangebyscore(this.keys.canaryPausesWaiting, 0, Date.now() - CANARY_APPROVAL_MAX_WAIT_MS);
  }
}

function member(runId: string, job: string): string {
  return `${runId}:${job}`;
}
