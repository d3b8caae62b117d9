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
  for (const [env, spec] of Object.entries(deploy.environments)) {
    for (const [i, ref] of (spec.analysis ?? []).entries()) {
      if (Object.hasOwn(templates, ref)) continue;
      const hint = didYouMean(ref, names);
      at(
        ['environments', env, 'analysis', i],
        `analysis '${ref}' is not defined under deploy.analysis${hint ? ` — did you mean '${hint}'?` : names.length > 0 ? ` (defined: ${names.join(', ')})` : ''}`,
      );
    }
    if (spec.analysis && spec.target === 'docker') {
      at(
        ['environments', env, 'analysis'],
        'analysis after a deploy is not supported yet on the docker target: the docker host removes the previous release once the new one is healthy, so a failing analysis would have nothing to roll back to; use target: kubernetes',
      );
    }
  }
}
