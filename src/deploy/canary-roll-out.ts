import type { StrategyStep } from '../planning/plan-types.js';
import { messageOf } from '../errors/errors.js';
import { DeployFailedError } from './deploy-errors.js';
import type { AppliedRelease, DeployTarget, ReleaseSpec, Verdict } from './deploy-target.js';
import { rollOut } from './roll-out.js';
import { CANARY_APPROVAL_MAX_WAIT_MS } from '../runs/canary-pause.js';

export interface CanaryRollOutOptions {
  /** Deadline of the canary's first health check, before it gets any traffic. */
  timeoutMs: number;
  onLog: (line: string) => void;
  onRollBack?: () => void;
  /** Where the canary stands now ("canary at 10% (step 1 of 4)", "paused until …"), for the job's reason. */
  onStatus?: (status: string) => Promise<void> | void;
  /** How often a pause looks at the canary's health (default 2 s). */
  checkEveryMs?: number;
  /**
   * A gate after each `setWeight` (once the weight serves and the canary is healthy): the hook for
   * analysis (e.g. Prometheus queries, src/analysis/ once it exists). An unhealthy verdict aborts the
   * canary with its reason, as a failed health check does; a rejection aborts with the error.
   */
  onStep?: (step: { weight: number; index: number; of: number }) => Promise<Verdict>;
  /** Where a `pause: {}` gets its decision (the approvals API); without it such a pause aborts the canary. */
  approval?: PauseApproval;
}

/** A decision on a canary waiting at a `pause: {}`. */
export type PauseDecision = { approved: true; by: string } | { approved: false; reason: string };

export interface PauseApproval {
  /** The canary reaches the pause at `step` (1-based): from now on it may be decided; returns when the wait ends undecided (ms since the epoch). */
  open(at: { step: number; of: number; weight: number }): Promise<{ deadline: number }>;
  /** The decision on the pause at `step`, or null while there is none; polled with the canary's health. */
  poll(step: number): Promise<PauseDecision | null>;
}

/** How long the steps' pauses add up to, in ms (a `pause: {}` at most its wait for an approval): a deploy holds its environment this much longer. */
export function pausesMs(steps: readonly StrategyStep[]): number {
  return steps.reduce((n, s) => n + ('pauseMs' in s ? (s.pauseMs ?? CANARY_APPROVAL_MAX_WAIT_MS) : 0), 0);
}

/** How long a canary may hold its environment beyond the deploy's own timeout: its pauses, and each weight's wait for the canary (at most `timeoutMs`). */
export function canaryExtraMs(steps: readonly StrategyStep[], timeoutMs: number): number {
  return pausesMs(steps) + steps.filter((s) => 'setWeight' in s).length * timeoutMs;
}

/**
 * A canary in steps, as Argo Rollouts runs one: the new release starts beside the live (stable)
 * one and gets no traffic until healthy; each `setWeight` sends it that percent of the requests, a
 * timed pause waits, and after the last step it is promoted (all traffic, the stable release
 * retired). The canary's health is checked after every weight and throughout every pause; a failed
 * check, or a step the target cannot carry out, aborts: all traffic back to stable, the canary
 * removed, and a `DeployFailedError` saying at which step and weight, and why. A first release (no
 * stable one to compare with) is promoted once healthy, as Argo Rollouts does.
 */
export async function rollOutCanary(
  target: DeployTarget,
  spec: ReleaseSpec,
  steps: readonly StrategyStep[],
  opts: CanaryRollOutOptions,
): Promise<AppliedRelease> {
  const canary = target.canary;
  if (!canary) throw new DeployFailedError(`the ${target.kind} target cannot run a canary yet`);
  const release = canary.start ? await canary.start(spec, opts.onLog) : await target.apply(spec, opts.onLog);
  if (release.alreadyLive || release.replaces === undefined) {
    if (!release.alreadyLive) opts.onLog('no live release to compare with: the canary steps are skipped and the release is promoted once healthy');
    return rollOut({ ...target, apply: () => Promise.resolve(release) }, spec, opts);
  }
  let weight = 0;
  let at = 'before its first step';
  const abort = async (reason: string, lastLogs: readonly string[] = []): Promise<never> => {
    opts.onLog(`aborting the canary ${at}: ${reason}`);
    await (canary.abort ? canary.abort(release, opts.onLog) : target.rollBack(release, opts.onLog));
    opts.onRollBack?.();
    throw new DeployFailedError(`canary aborted at ${weight}% (${at}): ${reason}; all traffic is back on run ${release.replaces}'s release`, lastLogs);
  };
  const healthy = async (): Promise<void> => {
    const verdict = await canary.check(release);
    if (!verdict.healthy) await abort(`health check failed: ${verdict.reason}`, verdict.lastLogs);
  };

  // The canary stays at its weight, its health checked, until the pause is approved (next step),
  // rejected or left undecided past its deadline (both abort).
  const waitForApproval = async (index: number): Promise<void> => {
    if (!opts.approval) return abort('pause: {} waits for an approval, and this deploy has no way to receive one');
    const { deadline } = await opts.approval.open({ step: index, of: steps.length, weight });
    await opts.onStatus?.(`canary at ${weight}%: waiting for an approval (${at})`);
    opts.onLog(`pausing at ${weight}% (${at}) until approved or rejected, at the latest until ${new Date(deadline).toISOString()}`);
    for (;;) {
      const decision = await opts.approval.poll(index);
      if (decision?.approved) {
        opts.onLog(`approved by ${decision.by}: resuming the canary after ${at}`);
        return;
      }
      if (decision) return abort(decision.reason);
      if (Date.now() >= deadline) return abort(`no approval by ${new Date(deadline).toISOString()}, the end of the pause's wait`);
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(opts.checkEveryMs ?? 2_000, deadline - Date.now()))));
      await healthy();
    }
  };

  const first = await canary.waitHealthy(release, opts);
  if (!first.healthy) return abort(first.reason, first.lastLogs);
  try {
    for (const [i, step] of steps.entries()) {
      at = `step ${i + 1} of ${steps.length}`;
      if ('setWeight' in step) {
        await canary.setWeight(release, step.setWeight, opts.onLog, opts.timeoutMs);
        weight = step.setWeight;
        await opts.onStatus?.(`canary at ${weight}% (${at})`);
        await healthy();
        const gate = await opts.onStep?.({ weight, index: i + 1, of: steps.length });
        if (gate && !gate.healthy) await abort(`step gate failed: ${gate.reason}`, gate.lastLogs);
      } else if (step.pauseMs === null) {
        await waitForApproval(i + 1);
      } else {
        const until = Date.now() + step.pauseMs;
        await opts.onStatus?.(`canary at ${weight}%: paused until ${new Date(until).toISOString()} (${Math.round(step.pauseMs / 1000)}s, ${at})`);
        opts.onLog(`pausing ${Math.round(step.pauseMs / 1000)}s at ${weight}% (${at}), until ${new Date(until).toISOString()}`);
        while (Date.now() < until) {
          await new Promise((r) => setTimeout(r, Math.min(opts.checkEveryMs ?? 2_000, until - Date.now())));
          await healthy();
        }
      }
    }
    at = 'promotion';
    await canary.promote(release, opts.onLog, opts.timeoutMs);
  } catch (err) {
    if (err instanceof DeployFailedError) throw err;
    return abort(messageOf(err));
  }
  return release;
}
