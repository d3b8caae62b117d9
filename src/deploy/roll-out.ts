import { DeployFailedError } from './deploy-errors.js';
import type { AppliedRelease, DeployTarget, ReleaseSpec } from './deploy-target.js';

/** A check of a healthy release before the deploy succeeds (the post-deploy analysis); a failure names why. */
export type ReleaseCheck = (release: AppliedRelease) => Promise<{ passed: true } | { passed: false; reason: string }>;

/**
 * One deploy on any target: apply, wait for the verdict, then run `analyze` on the healthy release
 * (when given), and roll back when the verdict is unhealthy or the analysis fails. Resolves with the
 * release once it is the live one; throws a `DeployFailedError` (reason and the release's last log
 * lines, and which run's release serves again) after rolling back, so the previous release keeps
 * serving. When the target cannot be reached it rejects with the target's error and leaves the
 * release as it is.
 */
export async function rollOut<R extends AppliedRelease>(
  target: Pick<DeployTarget, 'waitForVerdict' | 'rollBack'> & { apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<R> },
  spec: ReleaseSpec,
  opts: { timeoutMs: number; onLog: (line: string) => void; onRollBack?: () => void; analyze?: ReleaseCheck },
): Promise<R> {
  const release = await target.apply(spec, opts.onLog);
  const verdict = await target.waitForVerdict(release, opts);
  if (verdict.healthy) {
    const analysis = opts.analyze ? await opts.analyze(release) : { passed: true as const };
    if (analysis.passed) return release;
    opts.onLog(`${analysis.reason}: rolling back`);
    await target.rollBack(release, opts.onLog);
    opts.onRollBack?.();
    throw new DeployFailedError(analysis.reason, [], { toRun: release.replaces });
  }
  await target.rollBack(release, opts.onLog);
  opts.onRollBack?.();
  throw new DeployFailedError(verdict.reason, verdict.lastLogs, { toRun: release.replaces });
}
