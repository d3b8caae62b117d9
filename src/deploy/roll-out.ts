import { DeployFailedError } from './deploy-errors.js';
import type { AppliedRelease, DeployTarget, PromotionGates, ReleaseSpec, RolloutReport } from './deploy-target.js';

type Target<R extends AppliedRelease> = Pick<DeployTarget, 'waitForVerdict' | 'rollBack'> & {
  apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<R>;
  rollOut?(spec: ReleaseSpec, opts: { timeoutMs: number; onLog: (line: string) => void } & PromotionGates): Promise<RolloutReport<R>>;
};

/** A check of a healthy release before the deploy succeeds (the post-deploy analysis); a failure names why. */
export type ReleaseCheck = (release: AppliedRelease) => Promise<{ passed: true } | { passed: false; reason: string }>;

/**
 * One deploy on any target: apply, wait for the verdict — or the target's own `rollOut` when it has
 * one (Kubernetes: clusters in waves) — then run `analyze` on the healthy release (when given), and
 * roll back when the verdict is unhealthy or the analysis fails. Resolves with the release once it is
 * the live one; throws a `DeployFailedError` (reason, the release's last log lines, which run's
 * release serves again and, per place, what it runs now) after rolling back, so the previous release
 * keeps serving (or, with `keep-healthy`, the healthy places keep the new one: `partial`). When the
 * target cannot be reached it rejects with the target's error and leaves the release as it is.
 */
export async function rollOut<R extends AppliedRelease>(
  target: Target<R>,
  spec: ReleaseSpec,
  opts: { timeoutMs: number; onLog: (line: string) => void; onRollBack?: () => void; analyze?: ReleaseCheck } & PromotionGates,
): Promise<R> {
  if (target.rollOut) {
    const report = await target.rollOut(spec, opts);
    if (report.outcome === 'healthy') return analysed(target, report.release, opts);
    if (report.places.some((p) => p.state === 'rolled-back')) opts.onRollBack?.();
    const rolledBack = report.outcome === 'failed' && report.places.some((p) => p.state === 'rolled-back') ? { rolledBack: { toRun: report.replaces } } : {};
    throw new DeployFailedError(report.reason, report.lastLogs, { places: report.places, partial: report.outcome === 'partial', ...rolledBack });
  }
  const release = await target.apply(spec, opts.onLog);
  const verdict = await target.waitForVerdict(release, opts);
  if (verdict.healthy) return analysed(target, release, opts);
  await target.rollBack(release, opts.onLog);
  opts.onRollBack?.();
  throw new DeployFailedError(verdict.reason, verdict.lastLogs, { rolledBack: { toRun: release.replaces } });
}

/** A healthy release through `analyze` (when given): kept when it passes, rolled back when it fails. */
async function analysed<R extends AppliedRelease>(
  target: Pick<DeployTarget, 'rollBack'>,
  release: R,
  opts: { onLog: (line: string) => void; onRollBack?: () => void; analyze?: ReleaseCheck },
): Promise<R> {
  const analysis = opts.analyze ? await opts.analyze(release) : { passed: true as const };
  if (analysis.passed) return release;
  opts.onLog(`${analysis.reason}: rolling back`);
  await target.rollBack(release, opts.onLog);
  opts.onRollBack?.();
  throw new DeployFailedError(analysis.reason, [], { rolledBack: { toRun: release.replaces } });
}
