import type { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { PlanJob } from './names.js';
import { planJobId } from './queues.js';

/** How long one blocking pop waits before it looks at `stop` again. */
const BLOCK_SECONDS = 2;
/** Runs moved per BullMQ round trip when webhooks come faster than the feed moves them. */
const BATCH = 200;
const RETRY_MS = 1_000;

export interface PlanFeed {
  stop(): Promise<void>;
}

/**
 * Moves run ids from the plan feed (a Redis list the webhook's accept script appends to, in the
 * same atomic step that stores the run) into the planner's queue, in batches. Blocks on the list,
 * so a run is queued as soon as it is stored. Adding is idempotent (job id = run id). Ids taken
 * off the list but not added (Redis went away between the two, or this process died) are put back
 * when possible; if not, the run is still "received" and the planner role's sweep queues it.
 */
export function startPlanFeed(opts: { connection: Redis | Cluster; listKey: string; events: Queue<PlanJob>; onError(err: Error): void }): PlanFeed {
  // A connection of its own: a blocking pop holds it.
  const blocking = opts.connection.duplicate();
  blocking.on('error', () => undefined);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      let ids: string[] = [];
      try {
        const popped = (await blocking.blmpop(BLOCK_SECONDS, 1, opts.listKey, 'LEFT', 'COUNT', BATCH)) as [string, string[]] | null;
        if (!popped) continue;
        ids = popped[1];
        await opts.events.addBulk(ids.map((runId) => ({ name: 'plan', data: { runId }, opts: { jobId: planJobId(runId) } })));
      } catch (err) {
        if (stopped) break;
        opts.onError(err instanceof Error ? err : new Error(String(err)));
        if (ids.length > 0) await blocking.lpush(opts.listKey, ...ids).catch(() => undefined);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      blocking.disconnect();
      await loop;
    },
  };
}
