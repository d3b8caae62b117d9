import type { DeployContext } from '../deploy/deploy-context.js';
import { DeployFailedError } from '../deploy/deploy-errors.js';
import { EnvironmentLock } from '../deploy/environment-lock.js';
import { rollOut } from '../deploy/roll-out.js';
import { messageOf } from '../errors/errors.js';
import { fastRollbackSpec } from './fast-rollback.js';
import type { ReleaseHistories, ReleaseHistory } from './release-history.js';
import type { RollbackJobData } from './rollback.js';
import type { ReleaseEntry } from './types.js';
import type { ReleaseSpec } from '../deploy/deploy-target.js';

export type RollbackOutcome = { done: true } | { done: false; lockedBy: string };

/** What a rollback needs of the deploy worker's context: its targets, Redis (the lock) and logger. */
export type RollbackContext = Pick<DeployContext, 'targets' | 'redis' | 'logger'> & { store: Pick<DeployContext['store'], 'keys'> };

/**
 * Applies a rollback on demand on the deploy worker: under the environment lock (as deploys), the
 * recorded spec of the release goes back through the target at once (`fast-rollback.ts`: all pods
 * at once): apply and verdict, no tests, no canary; a bad verdict is rolled back as any deploy's. The rollback's entry says how it went
 * (and its progress lines meanwhile). Runs once: an entry that is no longer pending is left alone.
 */
export async function runRollbackJob(ctx: RollbackContext, histories: ReleaseHistories, data: RollbackJobData): Promise<RollbackOutcome> {
  const history = histories.of(data.service, data.environment);
  const entry = await history.get(data.release);
  if (entry?.outcome !== 'pending') {
    await history.endRollback(String(data.release));
    return { done: true };
  }
  const lock = new EnvironmentLock(ctx.redis, ctx.store.keys.envLock(data.service, data.environment), entry.timeoutMs + 60_000);
  const holder = await lock.acquire(`rollback:${entry.id}`);
  if (holder) {
    const detail = `waiting: ${data.environment} is being deployed by run ${holder}`;
    if (entry.detail !== detail) await history.update(entry.id, { detail });
    return { done: false, lockedBy: holder };
  }
  try {
    await apply(ctx, history, entry);
  } finally {
    await lock.release(`rollback:${entry.id}`);
    await history.endRollback(String(entry.id));
  }
  return { done: true };
}

async function apply(ctx: RollbackContext, history: ReleaseHistory, entry: ReleaseEntry): Promise<void> {
  const lines: string[] = [];
  // Progress lines go to the entry one write at a time, in order; the last write waits for them.
  let written: Promise<unknown> = Promise.resolve();
  const onLog = (line: string) => {
    lines.push(line);
    written = written.then(() => history.update(entry.id, { log: [...lines] })).catch(() => undefined);
  };
  const finish = async (patch: Partial<ReleaseEntry>) => {
    await written;
    await history.update(entry.id, { ...patch, log: [...lines], endedAt: new Date().toISOString() });
    ctx.logger.info({ service: entry.service, environment: entry.environment, release: entry.id, outcome: patch.outcome }, 'rollback finished');
  };
  const target = ctx.targets[entry.target];
  if (!target) return finish({ outcome: 'failed', detail: `deploy target '${entry.target}' is not available on this deploy worker` });
  let spec: ReleaseSpec | null;
  try {
    spec = await history.spec(entry.id);
  } catch (err) {
    return finish({ outcome: 'failed', detail: messageOf(err) });
  }
  if (!spec) return finish({ outcome: 'failed', detail: `the recorded spec of release ${entry.id} is gone` });
  await history.update(entry.id, { detail: `re-applying release ${entry.rollbackTo ?? '?'} (run ${entry.runId}, ${entry.image})` });
  try {
    const release = await rollOut(target, fastRollbackSpec(spec), { timeoutMs: entry.timeoutMs, onLog });
    await finish({ outcome: 'live', url: release.url, detail: `release ${entry.rollbackTo ?? '?'} (run ${entry.runId}) is live again at ${release.url}` });
  } catch (err) {
    await finish({ outcome: err instanceof DeployFailedError ? 'rolled-back' : 'failed', detail: `rollback failed: ${messageOf(err)}` });
  }
}
