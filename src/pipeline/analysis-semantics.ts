import { ConditionError, parseCondition } from '../analysis/condition.js';
import { queryVariableProblems } from '../analysis/promql-vars.js';
import { didYouMean } from './did-you-mean.js';
import type { DeploySpec } from './schema.js';

type At = (path: PropertyKey[], message: string) => void;

/**
 * `deploy.analysis` and the environments' `analysis:` across keys: every name an environment lists is
 * a template, conditions parse (with the character where they go wrong), conditions are only on
 * Prometheus metrics, `count` above 1 has an `interval`, and `${NAME}` stands outside quotes in
 * queries. `at` places a problem under `deploy`.
 */
export function checkAnalysis(deploy: DeploySpec, at: At): void {
  const templates = deploy.analysis ?? {};
  const names = Object.keys(templates);
  for (const [name, template] of Object.entries(templates)) {
    const seen = new Set<string>();
    for (const [i, m] of template.metrics.entries()) {
      const path = ['analysis', name, 'metrics', i];
      if (seen.has(m.name)) at([...path, 'name'], `analysis '${name}' has two metrics named '${m.name}'`);
      seen.add(m.name);
      for (const key of ['successCondition', 'failureCondition'] as const) {
        const text = m[key];
        if (text === undefined) continue;
        if ('http' in m.provider) {
          at([...path, key], `${key}: an http metric passes on a 2xx answer (or {"pass": true}); conditions are for prometheus metrics`);
          continue;
        }
        try {
          parseCondition(text);
        } catch (err) {
          if (!(err instanceof ConditionError)) throw err;
          at([...path, key], `${key}: ${err.message} (at character ${err.offset + 1} of '${text}')`);
        }
      }
      if (m.count > 1 && m.interval === undefined) at([...path, 'count'], `count ${m.count} needs an interval between the measurements, like interval: 30s`);
      if ('prometheus' in m.provider) {
        for (const problem of queryVariableProblems(m.provider.prometheus.query)) at([...path, 'provider', 'prometheus', 'query'], `query: ${problem}`);
      }
    }
  }
  const unknown = (path: PropertyKey[], ref: string) => {
    const hint = didYouMean(ref, names);
    at(
      path,
      `analysis '${ref}' is not defined under deploy.analysis${hint ? ` — did you mean '${hint}'?` : names.length > 0 ? ` (defined: ${names.join(', ')})` : ''}`,
    );
  };
  // Blue-green's gates, where the strategy is written (the deploy block's is checked once).
  const gatesOf = (strategy: DeploySpec['strategy']) =>
    strategy !== undefined && typeof strategy !== 'string' && 'blue-green' in strategy ? strategy['blue-green'] : undefined;
  const checkGates = (strategy: DeploySpec['strategy'], where: PropertyKey[]) => {
    const bg = gatesOf(strategy);
    for (const key of ['prePromotionAnalysis', 'postPromotionAnalysis'] as const) {
      for (const [i, ref] of (bg?.[key] ?? []).entries()) if (!Object.hasOwn(templates, ref)) unknown([...where, 'blue-green', key, i], ref);
    }
  };
  checkGates(deploy.strategy, ['strategy']);
  for (const [env, spec] of Object.entries(deploy.environments)) {
    for (const [i, ref] of (spec.analysis ?? []).entries()) if (!Object.hasOwn(templates, ref)) unknown(['environments', env, 'analysis', i], ref);
    checkGates(spec.strategy, ['environments', env, 'strategy']);
    const strategy = spec.strategy ?? deploy.strategy;
    const canary = strategy !== undefined && typeof strategy !== 'string' && 'canary' in strategy;
    if (spec.analysis && spec.target === 'docker' && !canary) {
      at(
        ['environments', env, 'analysis'],
        `analysis: on target: docker runs only as a canary's step gate (strategy: { canary: { steps } } with front_proxy): a blue-green deploy on the Docker host removes the previous release at the switch, so a failing analysis after it would have nothing to roll back to; to gate the switch itself, use strategy: { blue-green: { prePromotionAnalysis: [${spec.analysis.join(', ')}] } }`,
      );
    }
    if (spec.analysis && gatesOf(strategy)?.postPromotionAnalysis) {
      at(
        ['environments', env, 'analysis'],
        `deploy.environments.${env}: analysis: and the blue-green strategy's postPromotionAnalysis both name the analysis after the switch: keep one of them`,
      );
    }
  }
}
