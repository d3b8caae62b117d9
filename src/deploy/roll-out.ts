import { DeployFailedError } from './deploy-errors.js';
import type { AppliedRelease, DeployTarget, ReleaseSpec } from './deploy-target.js';

/**
 * One deploy on any target: apply, wait for the verdict, roll back when it is unhealthy. Resolves
 * with the release once it is the live one; throws a `DeployFailedError` (reason and the release's
 * last log lines, and which run's release serves again) after rolling back, so the previous release
 * keeps serving. When the target cannot be reached it rejects with the target's error and leaves the
 * release as it is.
 */
export async function rollOut<R extends AppliedRelease>(
  target: Pick<DeployTarget, 'waitForVerdict' | 'rollBack'> & { apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<R> },
  spec: ReleaseSpec,
  opts: { timeoutMs: number; onLog: (line: string) => void; onRollBack?: () => void },
): Promise<R> {
  const release = await target.apply(spec, opts.onLog);
  const verdict = await target.waitForVerdict(release, opts);
  if (verdict.healthy) return release;
  await target.rollBack(release, opts.onLog);
  opts.onRollBack?.();
  throw new DeployFailedError(verdict.reason, verdict.lastLogs, { toRun: release.replaces });
}
