import { DeployFailedError } from './deploy-errors.js';
import type { AppliedRelease, DeployTarget, ReleaseSpec, RolloutReport } from './deploy-target.js';

type Target<R extends AppliedRelease> = Pick<DeployTarget, 'waitForVerdict' | 'rollBack'> & {
  apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<R>;
  rollOut?(spec: ReleaseSpec, opts: { timeoutMs: number; onLog: (line: string) => void }): Promise<RolloutReport<R>>;
};

/**
 * One deploy on any target: apply, wait for the verdict, roll back when it is unhealthy — or the
 * target's own `rollOut` when it has one (Kubernetes: clusters in waves). Resolves with the release
 * once it is the live one; throws a `DeployFailedError` (reason, the release's last log lines and,
 * per place, what it runs now) after rolling back, so the previous release keeps serving (or, with
 * `keep-healthy`, the healthy places keep the new one: `partial`). When the target cannot be reached
 * it rejects with the target's error and leaves the release as it is.
 */
export async function rollOut<R extends AppliedRelease>(
  target: Target<R>,
  spec: ReleaseSpec,
  opts: { timeoutMs: number; onLog: (line: string) => void; onRollBack?: () => void },
): Promise<R> {
  if (target.rollOut) {
    const report = await target.rollOut(spec, opts);
    if (report.outcome === 'healthy') return report.release;
    if (report.places.some((p) => p.state === 'rolled-back')) opts.onRollBack?.();
    const rolledBack = report.outcome === 'failed' && report.places.some((p) => p.state === 'rolled-back') ? { rolledBack: { toRun: report.replaces } } : {};
    throw new DeployFailedError(report.reason, report.lastLogs, { places: report.places, partial: report.outcome === 'partial', ...rolledBack });
  }
  const release = await target.apply(spec, opts.onLog);
  const verdict = await target.waitForVerdict(release, opts);
  if (verdict.healthy) return release;
  await target.rollBack(release, opts.onLog);
  opts.onRollBack?.();
  throw new DeployFailedError(verdict.reason, verdict.lastLogs, { rolledBack: { toRun: release.replaces } });
}
