import { runAnalysis, type AnalysisOptions } from '../analysis/run-analysis.js';
import type { AnalysisTemplate } from '../analysis/types.js';
import type { PromotionGate, Verdict } from './deploy-target.js';
import type { ReleaseCheck } from './roll-out.js';

/**
 * The environment's `analysis:` as a check `rollOut` runs on the healthy release before the deploy
 * succeeds (Argo CD's PostSync analysis, Flagger's metric checks): every template must pass, else
 * the release is rolled back with the analysis's reason. Canary steps and blue-green switches call
 * `runAnalysis` with the same templates.
 */
export function postDeployAnalysis(
  templates: readonly AnalysisTemplate[],
  opts: Pick<AnalysisOptions, 'prometheusUrl' | 'vars' | 'secrets' | 'onLog' | 'calls' | 'signal'>,
): ReleaseCheck {
  return async (release) => {
    if (release.alreadyLive) opts.onLog('this run was already live: its analysis runs again, and a failure cannot roll back to an earlier run');
    opts.onLog(`analysis of ${release.spec.service} in ${release.spec.environment}: ${templates.map((t) => t.name).join(', ')}`);
    const result = await runAnalysis(templates, opts);
    if (result.passed) opts.onLog(`analysis passed (${result.measurements.length} measurements)`);
    return result.passed ? { passed: true } : { passed: false, reason: result.reason };
  };
}

/**
 * The environment's `analysis:` as a canary's step gate (Flagger's metric checks at each step): after
 * each `setWeight`, once the canary serves its share and is healthy, every template must pass, else
 * the canary is aborted with the analysis's reason.
 */
export function canaryStepAnalysis(
  templates: readonly AnalysisTemplate[],
  opts: Pick<AnalysisOptions, 'prometheusUrl' | 'vars' | 'secrets' | 'onLog' | 'calls' | 'signal'>,
): (step: { weight: number; index: number; of: number }) => Promise<Verdict> {
  return async (step) => {
    opts.onLog(`analysis at ${step.weight}% (step ${step.index} of ${step.of}): ${templates.map((t) => t.name).join(', ')}`);
    const result = await runAnalysis(templates, opts);
    if (result.passed) opts.onLog(`analysis passed (${result.measurements.length} measurements)`);
    return result.passed ? { healthy: true } : { healthy: false, reason: result.reason, lastLogs: [] };
  };
}

/**
 * The templates as a blue-green promotion gate (Argo Rollouts' prePromotionAnalysis before the
 * switch, postPromotionAnalysis right after it). Besides the release's variables a query may name
 * the new side: `SLIPWAY_NEW_SLOT` (blue or green: the `slipway.dev/slot` label of its pods on
 * Kubernetes, the slot on the Docker host) and, on Kubernetes, `SLIPWAY_PREVIEW_SERVICE` (the
 * preview Service that selects it).
 */
export function promotionAnalysis(
  templates: readonly AnalysisTemplate[],
  when: 'prePromotionAnalysis' | 'postPromotionAnalysis',
  opts: Pick<AnalysisOptions, 'prometheusUrl' | 'vars' | 'secrets' | 'onLog' | 'calls' | 'signal'>,
): PromotionGate {
  return async (side) => {
    opts.onLog(`${when} of the ${side.slot} side: ${templates.map((t) => t.name).join(', ')}`);
    const vars = { ...opts.vars, SLIPWAY_NEW_SLOT: side.slot, ...(side.previewService ? { SLIPWAY_PREVIEW_SERVICE: side.previewService } : {}) };
    const result = await runAnalysis(templates, { ...opts, vars });
    if (result.passed) opts.onLog(`${when} passed (${result.measurements.length} measurements)`);
    return result.passed ? { healthy: true } : { healthy: false, reason: result.reason, lastLogs: [] };
  };
}

/** What a query or gate URL may name with `${NAME}`: the release's identity and the environment's variables. */
export function analysisVariables(
  id: { service: string; environment: string; commitSha: string; runId: string; image: string },
  variables: Readonly<Record<string, string>>,
): Record<string, string> {
  return {
    ...variables,
    SLIPWAY_SERVICE: id.service,
    SLIPWAY_ENVIRONMENT: id.environment,
    SLIPWAY_COMMIT_SHA: id.commitSha,
    SLIPWAY_PIPELINE_ID: id.runId,
    SLIPWAY_IMAGE: id.image,
  };
}
