/**
 * The planner's worker for bench/pickup.ts, in a process of its own: queue "events" with the
 * options roles/planner.ts gives it (the worker connection, Slipway's prefix, the planner's
 * concurrency). Its processor only reports when it started, against the time the job was added.
 * Beside it, a bare BLPOP on a list of its own (the baseline).
 *
 *   node dist/bench/pickup-worker.js <redis-url> <concurrency>
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES, type PlanJob } from '../src/queues/names.js';

const [url, concurrency] = process.argv.slice(2);
const connection = new Redis(url ?? '', { maxRetriesPerRequest: null });
const worker = new Worker<PlanJob & { addedAt: number }>(
  QUEUE_NAMES.events,
  async (job) => {
    // One clock for both processes on this machine: the time origin plus the monotonic clock.
    process.send?.({ pickupMs: performance.timeOrigin + performance.now() - job.data.addedAt });
  },
  { connection, prefix: 'slipway', concurrency: Number(concurrency ?? 2) },
);
await worker.waitUntilReady();
// The floor any Redis-based pickup stands on, measured beside it: a bare BLPOP woken by an LPUSH.
const blocking = new Redis(url ?? '', { maxRetriesPerRequest: null });
let stopping = false;
void (async () => {
  while (!stopping) {
    const popped = await blocking.blpop('bench:ping', 1).catch(() => null);
    if (popped) process.send?.({ pickupMs: performance.timeOrigin + performance.now() - Number(popped[1]) });
  }
})();
process.on('message', (m: { stop?: boolean }) => {
  if (m.stop) stopping = true;
  if (m.stop) void worker.close().finally(() => process.exit(0));
});
process.send?.({ ready: true });
