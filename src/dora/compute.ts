import type { ReleaseEntry } from '../releases/types.js';

/** The period DORA is computed over: releases recorded at or after `since` and before `until`. */
export interface DoraWindow {
  since: Date;
  until: Date;
}

/** Per release id, what a deploy's lead time starts from: the first commit of its change (lead-time.ts), or null when unknown. */
export type StartTimes = ReadonlyMap<number, string | null>;

export interface DoraReport {
  service: string;
  environment: string;
  since: string;
  until: string;
  /**
   * False when the window starts before the oldest release still kept (the history keeps the last 50
   * per environment): the numbers then cover only the kept part of the window.
   */
  complete: boolean;
  deployments: {
    /** Deploys recorded in the window (pipeline deploys and config releases; rollbacks are not deploys). */
    total: number;
    /** Those that went live and were not rolled back on demand later. */
    succeeded: number;
    /** Those that failed, were rolled back by their verdict, or were rolled back on demand later. */
    failed: number;
    /** Deploys that went live, per day of the window. */
    perDay: number;
  };
  leadTime: {
    /** Median seconds from the first commit of the change to the deploy going live; null: no sample. */
    medianSeconds: number | null;
    /** Deploys that went live with a known first commit. */
    samples: number;
    /** Deploys that went live whose first commit could not be learned (GitLab did not say). */
    unknown: number;
  };
  /** failed / total; null when there were no deploys. */
  changeFailureRate: number | null;
  timeToRestore: {
    /** Median seconds from a failed deploy to the next release that went live; null: none restored. */
    medianSeconds: number | null;
    /** Failed deploys followed by a release that went live. */
    restored: number;
    /** Failed deploys with no release live after them yet. */
    open: number;
  };
}

const DEPLOY_KINDS: ReadonlySet<string> = new Set(['deploy', 'config']);

const ms = (iso: string) => Date.parse(iso);
/** When an entry's outcome was known: a rollback's verdict, else when it was recorded (a deploy is recorded at its verdict). */
const endOf = (e: ReleaseEntry) => ms(e.endedAt ?? e.at);

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * The deploys that a rollback on demand took back: for each rollback, the release live just before it
 * was asked for (the newest older entry that went live), when that is a deploy.
 */
export function rolledBackOnDemand(byId: readonly ReleaseEntry[]): Set<number> {
  const out = new Set<number>();
  for (const r of byId) {
    if (r.kind !== 'rollback') continue;
    const before = byId.filter((e) => e.id < r.id && e.outcome === 'live');
    const live = before[before.length - 1];
    if (live && DEPLOY_KINDS.has(live.kind)) out.add(live.id);
  }
  return out;
}

/**
 * Pure: DORA's four keys for one (service, environment) from its release history (any order) and the
 * first-commit times of the deploys' changes (by release id).
 *
 * - deployment frequency: deploys that went live (and stayed: not rolled back on demand) per day;
 * - lead time for changes: median time from the first commit of the change to its deploy going live
 *   (pipeline deploys only: a config release changes no code);
 * - change failure rate: failed deploys (failed, rolled back by their verdict, or rolled back on demand) / all deploys;
 * - time to restore: median time from a failed deploy (when it was recorded; one rolled back on demand:
 *   when it went live) to the end of the next release that went live (a deploy, config release or rollback).
 */
export function computeDora(service: string, environment: string, entries: readonly ReleaseEntry[], window: DoraWindow, starts: StartTimes): DoraReport {
  const since = window.since.getTime();
  const until = window.until.getTime();
  const byId = [...entries].sort((a, b) => a.id - b.id);
  const onDemand = rolledBackOnDemand(byId);
  const inWindow = (e: ReleaseEntry) => ms(e.at) >= since && ms(e.at) < until;
  const deploys = byId.filter((e) => DEPLOY_KINDS.has(e.kind) && e.outcome !== 'pending' && inWindow(e));
  const isFailed = (e: ReleaseEntry) => e.outcome === 'failed' || e.outcome === 'rolled-back' || onDemand.has(e.id);
  const failed = deploys.filter(isFailed);
  const succeeded = deploys.filter((e) => !isFailed(e));

  const leads: number[] = [];
  let unknown = 0;
  for (const d of deploys) {
    if (d.kind !== 'deploy' || d.outcome !== 'live') continue;
    const start = starts.get(d.id);
    if (!start || Number.isNaN(ms(start))) unknown += 1;
    else leads.push(Math.max(0, (ms(d.at) - ms(start)) / 1000));
  }

  const restores: number[] = [];
  let open = 0;
  for (const f of failed) {
    const next = byId.find((e) => e.id > f.id && e.outcome === 'live');
    if (!next) {
      open += 1;
      continue;
    }
    restores.push(Math.max(0, (endOf(next) - ms(f.at)) / 1000));
  }

  const days = Math.max(until - since, 1) / 86_400_000;
  const oldest = byId[0];
  return {
    service,
    environment,
    since: window.since.toISOString(),
    until: window.until.toISOString(),
    complete: oldest === undefined || oldest.id === 1 || ms(oldest.at) <= since,
    deployments: { total: deploys.length, succeeded: succeeded.length, failed: failed.length, perDay: round(succeeded.length / days) },
    leadTime: { medianSeconds: roundOrNull(median(leads)), samples: leads.length, unknown },
    changeFailureRate: deploys.length === 0 ? null : round(failed.length / deploys.length),
    timeToRestore: { medianSeconds: roundOrNull(median(restores)), restored: restores.length, open },
  };
}

const round = (n: number) => Math.round(n * 1000) / 1000;
const roundOrNull = (n: number | null) => (n === null ? null : round(n));
