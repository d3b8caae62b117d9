import type { DeployTargetKind, ReleaseSpec } from './deploy-target.js';

/** A run's deploy, after its verdict, as the release history records it. */
export interface DeployRecorded {
  /** `config`: a config release (the live image with new config, no build); else a pipeline's deploy. */
  kind: 'deploy' | 'config';
  spec: ReleaseSpec;
  target: DeployTargetKind;
  project: { id: number; path: string };
  sha: string;
  digest: string | null;
  /** Why it was deployed, in words (the pipeline's event and ref). */
  reason: string;
  outcome: 'live' | 'rolled-back' | 'failed';
  url: string | null;
  detail: string;
  timeoutMs: number;
}

/**
 * What the deploy job needs of the release history (`src/releases/`, wired in `roles/deploy.ts`, so
 * `deploy/` does not import it): record each verdict, and whether automatic deploys to an
 * environment are paused (after a rollback on demand). Both run under the environment lock.
 */
export interface ReleaseLedger {
  recordDeploy(release: DeployRecorded): Promise<void>;
  /** The reason a deploy waits when automatic deploys are paused, else null. */
  pausedReason(service: string, environment: string): Promise<string | null>;
}
