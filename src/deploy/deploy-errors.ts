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
    /**
     * `rolledBack`: set once the bad release was rolled back: the run whose release serves again
     * (`toRun` undefined when no release was live before). `places`: per place (cluster), what it
     * runs now; `partial` when some places keep the new release.
     */
    readonly more: { readonly rolledBack?: { readonly toRun: string | undefined }; readonly places?: readonly PlaceResult[]; readonly partial?: boolean } = {},
  ) {
    super(lastLogs.length > 0 ? `${reason}; last log lines:\n${lastLogs.join('\n')}` : reason);
  }
}
