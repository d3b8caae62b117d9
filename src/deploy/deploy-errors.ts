import type { PlaceResult } from './deploy-target.js';

/**
 * A release that did not become healthy. The old release is still serving
 * when this is thrown; retrying the same image rarely helps, so the deploy
 * job fails with this message (reason + the container's last log lines).
 * A target that rolls out to several places says what each one ended up
 * running (`places`); `partial` when some of them keep the new release.
 */
export class DeployFailedError extends Error {
  override readonly name = 'DeployFailedError';
  constructor(
    readonly reason: string,
    readonly lastLogs: readonly string[] = [],
    readonly places: readonly PlaceResult[] = [],
    readonly partial = false,
  ) {
    super(lastLogs.length > 0 ? `${reason}; last log lines:\n${lastLogs.join('\n')}` : reason);
  }
}
