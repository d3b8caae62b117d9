import { randomUUID } from 'node:crypto';
import { chooseRollbackTarget } from './choose.js';
import type { ReleaseHistories } from './release-history.js';
import type { Pause, ReleaseEntry } from './types.js';

/** The deploy-queue job that applies a rollback (`run-rollback-job.ts`). */
export interface RollbackJobData {
  service: string;
  environment: string;
  /** The rollback's own entry in the release history. */
  release: number;
}

export interface RollbackRequest {
  service: string;
  environment: string;
  /** The release to go back to; none: the newest one older than the live one that went live. */
  release?: number;
  reason: string;
  /** Who asks: the CLI's user, else "api". */
  by: string;
}

export type RollbackAnswer = { status: 202; rollback: ReleaseEntry; target: ReleaseEntry; pause: Pause } | { status: 404 | 409; error: string };

/** A claim on the environment outlives any rollback (its verdict deadline plus the wait for the lock), and then expires. */
const CLAIM_MS = 2 * 3600_000;

/**
 * Asks for a rollback on demand: picks the release, records the rollback (`pending`, with a copy of
 * that release's recorded spec), pauses automatic deploys to the environment and queues the job
 * that applies it on the deploy worker. One rollback per environment at a time.
 */
export async function requestRollback(
  histories: ReleaseHistories,
  req: RollbackRequest,
  enqueue: (job: RollbackJobData) => Promise<void>,
): Promise<RollbackAnswer> {
  const where = `${req.service}/${req.environment}`;
  const history = histories.of(req.service, req.environment);
  if (!(await history.known()))
    return { status: 404, error: `no release of service ${req.service} in environment ${req.environment} is recorded: nothing was deployed there` };
  const token = `requested:${randomUUID()}`;
  const held = await history.claimRollback(token, CLAIM_MS);
  if (held !== null) {
    return {
      status: 409,
      error: `a rollback of ${where} is in progress (${held.startsWith('requested:') ? 'being recorded' : `release ${held}`}): wait for it to end`,
    };
  }
  let holder = token;
  try {
    const choice = chooseRollbackTarget(await history.list(), req.release, where);
    if (!choice.ok) return choice;
    const { target } = choice;
    const spec = await history.spec(target.id);
    if (!spec) return { status: 404, error: `release ${target.id} of ${where} is no longer kept (the last 50 releases are)` };
    const at = new Date().toISOString();
    const rollback = await history.add(
      {
        ...target,
        kind: 'rollback',
        url: null,
        by: req.by,
        at,
        reason: req.reason,
        outcome: 'pending',
        detail: `queued: re-applying release ${target.id} (run ${target.runId})`,
        rollbackTo: target.id,
        log: [],
        endedAt: undefined,
      },
      spec,
    );
    await history.passRollback(token, String(rollback.id), CLAIM_MS);
    holder = String(rollback.id);
    // Paused before the job is queued: a deploy that takes the environment lock from now on waits.
    const pause: Pause = { by: req.by, at, reason: req.reason, rollback: rollback.id, release: target.id };
    await history.setPause(pause);
    await enqueue({ service: req.service, environment: req.environment, release: rollback.id });
    holder = '';
    return { status: 202, rollback, target, pause };
  } finally {
    // Refused or failed before the job was queued: free the environment for the next request.
    if (holder) await history.endRollback(holder);
  }
}
