import { CronExpressionParser } from 'cron-parser';
import type { DeployWindowSpec, FreezeSpec } from '../planning/plan-types.js';
import { formatIn } from './clock.js';

/** A recurring period: open at each `start` occurrence until the next `end` occurrence. */
interface Period {
  start: string;
  end: string;
  timezone: string;
}

export type CalendarVerdict =
  | { open: true }
  /** `opens`: when a deploy may start next (null: not within the search horizon); `reason` says why not now. */
  | { open: false; reason: string; opens: Date | null };

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
/** How far ahead the next open moment is looked for; past it the answer is "not within a year". */
const HORIZON_MS = 366 * 24 * 3600 * 1000;
const MAX_STEPS = 200;

const MINUTE = 60_000;

/** The latest occurrence of `cron` at or before `t`, or null (none within cron-parser's reach). */
function lastAtOrBefore(cron: string, timezone: string, t: number): number | null {
  // Occurrences fall on whole minutes and prev() is strictly before currentDate.
  const floor = Math.floor(t / MINUTE) * MINUTE;
  try {
    return CronExpressionParser.parse(cron, { currentDate: new Date(floor + 1000), tz: timezone })
      .prev()
      .getTime();
  } catch {
    return null;
  }
}

/** The first occurrence strictly after `t`, or null. */
function nextAfter(cron: string, timezone: string, t: number): number | null {
  try {
    const d = CronExpressionParser.parse(cron, { currentDate: new Date(t + 1), tz: timezone })
      .next()
      .getTime();
    return d > t ? d : null;
  } catch {
    return null;
  }
}

/** Inside a period when its latest start is later than its latest end (as GitLab decides a freeze). */
function inside(p: Period, t: number): boolean {
  const start = lastAtOrBefore(p.start, p.timezone, t);
  if (start === null) return false;
  const end = lastAtOrBefore(p.end, p.timezone, t);
  return end === null || start > end;
}

/** Pure: a window as a start/end cron pair ("mon-fri 09:00-17:00" → "0 9 * * 1,2,3,4,5" / "0 17 * * 1,2,3,4,5"). */
export function windowPeriod(w: DeployWindowSpec): Period {
  const at = (hhmm: string) => {
    const [h, m] = hhmm.split(':').map(Number);
    return `${m ?? 0} ${h ?? 0} * * ${w.days.join(',')}`;
  };
  return { start: at(w.from), end: at(w.to), timezone: w.timezone };
}

/** Pure: "mon-fri 09:00-17:00 Europe/Berlin". */
export function describeWindow(w: DeployWindowSpec): string {
  const days = [...w.days].sort((a, b) => a - b);
  const run = days.every((d, i) => i === 0 || d === (days[i - 1] ?? 0) + 1);
  const names = days.map((d) => DAY_NAMES[d] ?? String(d));
  const daysText = days.length === 7 ? 'daily' : run && days.length > 2 ? `${names[0]}-${names.at(-1)}` : names.join(',');
  return `${daysText} ${w.from}-${w.to} ${w.timezone}`;
}

/**
 * Pure: may a deploy of `environment` start at `now`? Not inside any freeze, and inside one of the
 * windows when there are any. When not, says why and when it may next start (the first moment
 * outside every freeze and inside a window), in the zone of the period that closes it.
 */
export function calendarAt(environment: string, windows: readonly DeployWindowSpec[], freezes: readonly FreezeSpec[], now: Date): CalendarVerdict {
  const periods = windows.map(windowPeriod);
  const closedBy = (t: number): { freeze: FreezeSpec } | { window: true } | null => {
    const freeze = freezes.find((f) => inside(f, t));
    if (freeze) return { freeze };
    if (periods.length > 0 && !periods.some((p) => inside(p, t))) return { window: true };
    return null;
  };
  const first = closedBy(now.getTime());
  if (!first) return { open: true };

  let t = now.getTime();
  let opens: number | null = null;
  for (let step = 0; step < MAX_STEPS && t - now.getTime() < HORIZON_MS; step++) {
    const by = closedBy(t);
    if (!by) {
      opens = t;
      break;
    }
    const next =
      'freeze' in by
        ? nextAfter(by.freeze.end, by.freeze.timezone, t)
        : Math.min(...periods.map((p) => nextAfter(p.start, p.timezone, t) ?? Number.POSITIVE_INFINITY));
    if (next === null || !Number.isFinite(next)) break;
    t = next;
  }
  const opensAt = opens === null ? null : new Date(opens);
  if ('freeze' in first) {
    const f = first.freeze;
    const endsAt = nextAfter(f.end, f.timezone, now.getTime());
    const until = endsAt === null ? 'with no end in sight' : `until ${formatIn(new Date(endsAt), f.timezone)}`;
    const later = opensAt && endsAt !== null && opensAt.getTime() > endsAt ? `; it may deploy next at ${formatIn(opensAt, f.timezone)}` : '';
    return { open: false, reason: `${environment} is frozen ${until} (freeze '${f.name}')${later}`, opens: opensAt };
  }
  const zone = windows[0]?.timezone ?? 'UTC';
  const next = opensAt ? `: next opens ${formatIn(opensAt, zone)}` : ': none opens within a year';
  return { open: false, reason: `${environment} is outside its deploy windows (${windows.map(describeWindow).join('; ')})${next}`, opens: opensAt };
}
