import type { AnalysisMetric, AnalysisTemplate } from '../analysis/types.js';
import type { AnalysisMetricBlock, AnalysisTemplateBlock } from '../pipeline/analysis-schema.js';
import type { EnvironmentBlock } from '../pipeline/schema.js';
import { durationMs } from './normalize.js';

/** An HTTP gate's call waits this long unless the template says `timeout:`. */
export const DEFAULT_GATE_TIMEOUT_MS = 10_000;

function metricOf(m: AnalysisMetricBlock): AnalysisMetric {
  const provider: AnalysisMetric['provider'] =
    'prometheus' in m.provider
      ? { prometheus: { query: m.provider.prometheus.query, ...(m.provider.prometheus.address ? { address: m.provider.prometheus.address } : {}) } }
      : {
          http: {
            url: m.provider.http.url,
            method: m.provider.http.method,
            headers: m.provider.http.headers ?? {},
            timeoutMs: durationMs(m.provider.http.timeout, DEFAULT_GATE_TIMEOUT_MS),
          },
        };
  return {
    name: m.name,
    count: m.count,
    intervalMs: durationMs(m.interval, 0),
    initialDelayMs: durationMs(m.initialDelay, 0),
    failureLimit: m.failureLimit,
    inconclusiveLimit: m.inconclusiveLimit,
    consecutiveErrorLimit: m.consecutiveErrorLimit,
    ...(m.successCondition !== undefined ? { successCondition: m.successCondition } : {}),
    ...(m.failureCondition !== undefined ? { failureCondition: m.failureCondition } : {}),
    provider,
  };
}

/** The templates an environment's `analysis:` names, in its order, as the deploy job runs them (semantics.ts checked the names). */
export function analysisOf(names: readonly string[], templates: Readonly<Record<string, AnalysisTemplateBlock>>): AnalysisTemplate[] {
  return names.flatMap((name) => {
    const t = Object.hasOwn(templates, name) ? templates[name] : undefined;
    return t ? [{ name, metrics: t.metrics.map(metricOf) }] : [];
  });
}

/**
 * An environment's analyses as the deploy job runs them: `analysis` after the rollout is healthy
 * (a blue-green strategy's `postPromotionAnalysis` is the same gate, written Argo Rollouts' way;
 * semantics.ts refuses both at once) and blue-green's `prePromotionAnalysis` before its switch.
 */
export function analysisGatesOf(
  analysis: readonly string[] | undefined,
  strategy: EnvironmentBlock['strategy'],
  templates: Readonly<Record<string, AnalysisTemplateBlock>>,
): { analysis?: AnalysisTemplate[]; prePromotionAnalysis?: AnalysisTemplate[] } {
  const bg = strategy !== undefined && typeof strategy !== 'string' && 'blue-green' in strategy ? strategy['blue-green'] : undefined;
  const post = analysis ?? bg?.postPromotionAnalysis;
  return {
    ...(post ? { analysis: analysisOf(post, templates) } : {}),
    ...(bg?.prePromotionAnalysis ? { prePromotionAnalysis: analysisOf(bg.prePromotionAnalysis, templates) } : {}),
  };
}
