import { z } from 'zod';
import type { DeployTargetKind } from '../deploy/deploy-target.js';
import { schemaOf } from '../runs/schema-of.js';

/** What made a release: a run's deploy job, a rollback on demand; `config` and `restart` are kinds no code writes yet. */
export type ReleaseKind = 'deploy' | 'rollback' | 'config' | 'restart';

/**
 * How a release ended: `pending` (a rollback queued or being applied), `live` (its verdict was healthy: it
 * went live), `rolled-back` (its verdict was bad and what served before was put back), `failed` (it
 * could not be applied or judged: the target failed; nothing was rolled back).
 */
export type ReleaseOutcome = 'pending' | 'live' | 'rolled-back' | 'failed';

/** One entry of an environment's release history (everything but the recorded spec, which is kept sealed beside it). */
export interface ReleaseEntry {
  /** 1, 2, 3…: per (service, environment), in the order releases were recorded. */
  id: number;
  kind: ReleaseKind;
  service: string;
  environment: string;
  target: DeployTargetKind;
  project: { id: number; path: string };
  /** The run whose release this is (a rollback: the run of the release it re-applied). */
  runId: string;
  sha: string;
  /** repository@digest as deployed. */
  image: string;
  digest: string | null;
  /** Kubernetes: the ConfigMap the release mounts (its name carries a hash of its data); else null. */
  configRevision: string | null;
  clusters: string[];
  /** Where it answered, once live. */
  url: string | null;
  /** "pipeline" for a run's deploy; the user (or "api") who asked for a rollback. */
  by: string;
  at: string;
  /** Why: the pipeline (event and ref) for a deploy; the reason given for a rollback. */
  reason: string;
  outcome: ReleaseOutcome;
  /** The verdict or failure in words. */
  detail: string;
  /** A rollback: the release whose recorded spec it re-applied. */
  rollbackTo: number | null;
  /** The deadline for its verdict, as the deploy had it (a rollback gets the same). */
  timeoutMs: number;
  /** A rollback's progress lines (the target's log), the last 100. */
  log: string[];
  /**
   * When its outcome was known: a rollback's verdict (its `at` is when it was asked for). A deploy is
   * recorded at its verdict, so it has none (its `at` is that time); entries from before this field neither.
   */
  endedAt?: string | undefined;
}

export const releaseEntrySchema = schemaOf<ReleaseEntry>()(
  z.object({
    id: z.number(),
    kind: z.enum(['deploy', 'rollback', 'config', 'restart']),
    service: z.string(),
    environment: z.string(),
    target: z.enum(['docker', 'kubernetes']),
    project: z.object({ id: z.number(), path: z.string() }),
    runId: z.string(),
    sha: z.string(),
    image: z.string(),
    digest: z.string().nullable(),
    configRevision: z.string().nullable(),
    clusters: z.array(z.string()),
    url: z.string().nullable(),
    by: z.string(),
    at: z.string(),
    reason: z.string(),
    outcome: z.enum(['pending', 'live', 'rolled-back', 'failed']),
    detail: z.string(),
    rollbackTo: z.number().nullable(),
    timeoutMs: z.number(),
    log: z.array(z.string()),
    endedAt: z.string().optional(),
  }),
);

/** Automatic deploys to an environment are paused (after a rollback on demand) until someone resumes them. */
export interface Pause {
  by: string;
  at: string;
  reason: string;
  /** The rollback that paused them and the release it went back to. */
  rollback: number;
  release: number;
}

export const pauseSchema = schemaOf<Pause>()(z.object({ by: z.string(), at: z.string(), reason: z.string(), rollback: z.number(), release: z.number() }));

/** Pure: what a deploy job waiting on a pause says (the run page, GitLab, `slipway status`). */
export function pausedReason(p: Pause, service: string, environment: string): string {
  return `waiting: automatic deploys to ${environment} are paused since the rollback to release ${p.release} by ${p.by} at ${p.at}; resume with slipway resume ${service} ${environment}`;
}
