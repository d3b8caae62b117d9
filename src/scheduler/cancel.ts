import type { Cluster, Redis } from 'ioredis';
import type { JobContext } from '../jobs/context.js';
import { withRedisLock } from '../runs/run-lock.js';
import type { RunRecord } from '../runs/types.js';
import { advanceRun } from './advance-run.js';

const POLL_MS = 1_000;
const STARTED = new Set(['running', 'success', 'failed']);
const OPEN = new Set(['pending', 'queued', 'manual', 'running']);
const ENDED = new Set(['succeeded', 'failed']);

/**
 * A running job learns that its run was canceled by polling one Redis key (any worker process
 * may be running it), and aborts its step: the executor then stops the container.
 */
export function watchCancel(redis: Redis | Cluster, key: string, outer?: AbortSignal): { signal: AbortSignal; stop(): void; reason(): string | undefined } {
  const controller = new AbortController();
  let reason: string | undefined;
  const onOuter = () => controller.abort();
  outer?.addEventListener('abort', onOuter, { once: true });
  const timer = setInterval(() => {
    void redis.get(key).then(
      (r) => {
        if (r !== null && !controller.signal.aborted) {
          reason = r;
          controller.abort();
        }
      },
      () => undefined,
    );
  }, POLL_MS);
  return {
    signal: controller.signal,
    stop: () => {
      clearInterval(timer);
      outer?.removeEventListener('abort', onOuter);
    },
    reason: () => reason,
  };
}

/**
 * Auto-cancel, GitLab's "conservative" rule: a newer pipeline for the same ref cancels an older
 * one only when every job the older one started is interruptible. Its open jobs are canceled
 * (running ones stop their containers) and GitLab is told.
 */
export async function cancelSuperseded(ctx: JobContext, newer: RunRecord): Promise<string | undefined> {
  const { store } = ctx;
  const key = store.keys.latestOnRef(newer.request);
  const previous = await ctx.redis.getset(key, newer.id);
  await ctx.redis.pexpire(key, 30 * 24 * 3600 * 1000);
  if (!previous || previous === newer.id) return undefined;
  const older = await store.get(previous);
  const plan = older?.plan;
  if (!older || !plan || older.status.phase !== 'running' || older.request.kind !== newer.request.kind) return undefined;
  const interruptible = new Map(plan.jobs.map((j) => [j.name, j.interruptible]));
  if (older.jobs.some((j) => STARTED.has(j.status.phase) && !interruptible.get(j.name))) {
    await store.appendLog(
      older.id,
      'plan',
      'system',
      `newer pipeline ${newer.id} for ${newer.request.ref}: not canceled, it has started jobs that are not interruptible`,
    );
    return undefined;
  }
  await cancelRun(ctx, older, `canceled: newer pipeline ${newer.id} for ${newer.request.ref} (${newer.request.sha.slice(0, 8)})`);
  return older.id;
}

/**
 * Cancels what is still open in a run: running jobs stop their containers (they poll the cancel
 * key) and finish as canceled, the others are canceled now; then the run is closed. Returns the
 * jobs it canceled (none: nothing was open).
 */
export async function cancelRun(ctx: JobContext, run: RunRecord, reason: string): Promise<string[]> {
  const { store } = ctx;
  // Under the scheduler's lock, read again: a step approved meanwhile is running, not manual.
  const canceled = await withRedisLock(ctx.redis, `${store.keys.run(run.id)}:advance`, async () => {
    const now = await store.get(run.id);
    const open = (now?.jobs ?? []).filter((j) => OPEN.has(j.status.phase));
    if (!now || open.length === 0) return [];
    await ctx.redis.set(store.keys.cancel(run.id), reason, 'EX', 24 * 3600);
    // A run that ended with only manual steps left is reopened, so the scheduler closes it again as canceled.
    if (ENDED.has(now.status.phase)) await store.setStatus(run.id, 'running', reason);
    // Running jobs finish themselves as canceled once their step stops.
    for (const j of open) if (j.status.phase !== 'running') await store.updateJob(run.id, j.name, 'canceled', reason);
    return open;
  });
  for (const j of canceled) if (j.status.phase !== 'running') await ctx.reporter.jobChanged(run.id, j.name);
  if (canceled.length > 0) await advanceRun(ctx, ctx.redis, run.id);
  return canceled.map((j) => j.name);
}
