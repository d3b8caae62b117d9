/**
 * A release that did not become healthy. The old release is still serving
 * when this is thrown; retrying the same image rarely helps, so the deploy
 * job fails with this message (reason + the container's last log lines).
 */
export class DeployFailedError extends Error {
  override readonly name = 'DeployFailedError';
  constructor(
    readonly reason: string,
    readonly lastLogs: readonly string[] = [],
    /**
     * Set once the bad release was rolled back: the run whose release serves again (`undefined` when
     * no release was live before, so there was nothing to go back to).
     */
    readonly rolledBack?: { readonly toRun: string | undefined },
  ) {
    super(lastLogs.length > 0 ? `${reason}; last log lines:\n${lastLogs.join('\n')}` : reason);
  }
}
