import type { JobContext } from '../jobs/context.js';
import type { DeployTarget, DeployTargetKind } from './deploy-target.js';
import type { ReleaseLedger } from './release-ledger.js';

/** What a deploy job gets: the shared job context plus the targets the deploy role wired. */
export interface DeployContext extends JobContext {
  /** The targets this worker can deploy to, by the pipeline file's `target:` name. */
  targets: Partial<Record<DeployTargetKind, DeployTarget>>;
  /** The release history: each verdict is recorded, and a paused environment makes deploys wait. */
  releases: ReleaseLedger;
}
