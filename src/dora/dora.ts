import type { ReleaseHistories } from '../releases/release-history.js';
import { computeDora, type DoraReport, type DoraWindow } from './compute.js';
import type { ChangeStarts } from './lead-time.js';

export interface DoraDeps {
  histories: ReleaseHistories;
  starts: ChangeStarts;
}

/** The default window: the last 30 days. */
export const DEFAULT_DAYS = 30;

/**
 * DORA for every known (service, environment) the filter matches (none: all), from each one's release
 * history; lead times ask GitLab for the first commits of the changes that went live in the window.
 */
export async function doraReports(deps: DoraDeps, filter: { service?: string; environment?: string }, window: DoraWindow): Promise<DoraReport[]> {
  const pairs = (await deps.histories.pairs()).filter(
    (p) => (filter.service === undefined || p.service === filter.service) && (filter.environment === undefined || p.environment === filter.environment),
  );
  const out: DoraReport[] = [];
  for (const p of pairs) {
    const entries = await deps.histories.of(p.service, p.environment).list();
    const starts = new Map<number, string | null>();
    const since = window.since.getTime();
    const until = window.until.getTime();
    for (const e of entries) {
      const at = Date.parse(e.at);
      if (e.kind === 'deploy' && e.outcome === 'live' && at >= since && at < until) starts.set(e.id, await deps.starts.of(e));
    }
    out.push(computeDora(p.service, p.environment, entries, window, starts));
  }
  return out;
}
