import type { ReleaseEntry } from './types.js';

/** Pure: the release that runs now: the newest whose verdict was healthy (`entries` newest first). */
export function liveRelease(entries: readonly ReleaseEntry[]): ReleaseEntry | null {
  return entries.find((e) => e.outcome === 'live') ?? null;
}

export type RollbackChoice = { ok: true; target: ReleaseEntry; live: ReleaseEntry | null } | { ok: false; status: 404 | 409; error: string };

/**
 * Pure: which release a rollback re-applies. The one asked for, when it is kept, went live and is not
 * what runs now; else (as `argocd app rollback` without an id) the newest release older than the
 * live one that went live and was made by another run (re-applying the live run's release would
 * change nothing).
 */
export function chooseRollbackTarget(entries: readonly ReleaseEntry[], requested: number | undefined, where: string): RollbackChoice {
  const live = liveRelease(entries);
  if (requested !== undefined) {
    const target = entries.find((e) => e.id === requested);
    if (!target) return { ok: false, status: 404, error: `release ${requested} of ${where} is not in its history (the last 50 releases are kept)` };
    if (target.outcome !== 'live') {
      return {
        ok: false,
        status: 409,
        error: `release ${requested} of ${where} never went live (${target.outcome}): only a release that was live can be rolled back to`,
      };
    }
    if (live && target.runId === live.runId) {
      return {
        ok: false,
        status: 409,
        error: `release ${requested} of ${where} is what runs now (release ${live.id}, run ${live.runId}): nothing to roll back`,
      };
    }
    return { ok: true, target, live };
  }
  if (!live) return { ok: false, status: 409, error: `nothing to roll back to: no release of ${where} is live` };
  const target = entries.find((e) => e.id < live.id && e.outcome === 'live' && e.runId !== live.runId);
  if (!target)
    return { ok: false, status: 409, error: `nothing to roll back to: no release of ${where} older than the live one (release ${live.id}) went live` };
  return { ok: true, target, live };
}
