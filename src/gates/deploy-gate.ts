import type { PlannedDeployJob } from '../planning/plan-types.js';
import { calendarAt } from './calendar.js';
import { formatWait } from './clock.js';

/** The live release of the environment a soak watches: which run put it there, for which commit, since when. */
export interface LiveRelease {
  runId: string;
  sha: string;
  at: string;
}

export type GateVerdict =
  | { kind: 'go' }
  /** Not yet: check again at `recheckAt`; `reason` starts with "waiting: ". */
  | { kind: 'wait'; reason: string; recheckAt: Date }
  /** Never for this run: the job ends canceled with `reason`. */
  | { kind: 'cancel'; reason: string };

/** A deploy waits for a window, a freeze's end or a soak at most this long; past it, it is canceled. */
export const MAX_GATE_WAIT_MS = 30 * 24 * 3600 * 1000;
/** A soak's "12m left" is brought up to date this often. */
const SOAK_RECHECK_MS = 60_000;
/** A calendar wait is checked again at the opening, but at least this often (a clock that jumped). */
const CALENDAR_RECHECK_MS = 3600_000;

/**
 * Pure: may this deploy job start now? First the soak (the same commit has been the live release of
 * the previous environment for `soak.ms`), then the calendar (no freeze, inside a window). `live`
 * is the soaked environment's live release (null: none recorded).
 */
export function deployGate(
  job: Pick<PlannedDeployJob, 'environment' | 'windows' | 'freezes' | 'soak'>,
  sha: string,
  live: LiveRelease | null,
  now: Date,
): GateVerdict {
  const t = now.getTime();
  if (job.soak) {
    const { ms, after } = job.soak;
    if (!live || live.sha !== sha) {
      const runs = live ? `it runs ${live.sha.slice(0, 8)} of run ${live.runId}, deployed at ${live.at}` : 'nothing is recorded there';
      return { kind: 'cancel', reason: `soak: ${after} does not run this release (${sha.slice(0, 8)}): ${runs}` };
    }
    const left = Date.parse(live.at) + ms - t;
    if (left > 0) {
      return {
        kind: 'wait',
        reason: `waiting: release must stay healthy in ${after} for ${formatWait(ms)} (${formatWait(left)} left)`,
        recheckAt: new Date(t + Math.min(left, SOAK_RECHECK_MS)),
      };
    }
  }
  const cal = calendarAt(job.environment, job.windows ?? [], job.freezes ?? [], now);
  if (cal.open) return { kind: 'go' };
  if (!cal.opens || cal.opens.getTime() - t > MAX_GATE_WAIT_MS) {
    return { kind: 'cancel', reason: `${cal.reason}: a deploy does not wait more than ${MAX_GATE_WAIT_MS / 86_400_000} days; run the pipeline again later` };
  }
  return { kind: 'wait', reason: `waiting: ${cal.reason}`, recheckAt: new Date(Math.min(cal.opens.getTime(), t + CALENDAR_RECHECK_MS)) };
}

/** Pure: the approval-time check: refused while the calendar is closed (a soak may still be running: approving early is allowed). */
export function approvalCalendar(job: Pick<PlannedDeployJob, 'environment' | 'windows' | 'freezes'>, now: Date): string | undefined {
  const cal = calendarAt(job.environment, job.windows ?? [], job.freezes ?? [], now);
  return cal.open ? undefined : cal.reason;
}
