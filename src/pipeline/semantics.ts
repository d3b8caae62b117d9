import { checkAnalysis } from './analysis-semantics.js';
import { didYouMean } from './did-you-mean.js';
import type { PipelineProblem } from './errors.js';
import { ExpressionError } from '../patterns/expression.js';
import { expr as parseExpression, glob as compileGlob } from './rules.js';
import { findCycle } from './dag.js';
import type { PipelineFile } from './pipeline-file.js';
import type { NeedSpec, RuleSpec } from './schema.js';
import { problemAt, type SourceFile } from './yaml-source.js';

export const needName = (n: NeedSpec): string => (typeof n === 'string' ? n : n.job);
export const isOptionalNeed = (n: NeedSpec): boolean => typeof n !== 'string' && n.optional === true;

export function defaultStageOf(block: 'build' | 'sonar' | 'deploy'): string {
  return block === 'sonar' ? 'test' : block;
}

/** Checks across keys: stages exist, needs point somewhere and form no cycle, rules compile. */
export function checkSemantics(
  file: PipelineFile,
  originOf: (key: string) => SourceFile,
  jobNames: readonly string[] = file.jobs.map((j) => j.name),
): PipelineProblem[] {
  const problems: PipelineProblem[] = [];
  const at = (key: string, path: PropertyKey[], message: string) => problems.push(problemAt(originOf(key), [key, ...path], message));

  const stageSeen = new Set<string>();
  for (const [i, s] of file.stages.entries()) {
    if (stageSeen.has(s)) at('stages', [i], `stage '${s}' is listed twice`);
    stageSeen.add(s);
  }
  const stageIndex = new Map<string, number>();
  const checkStage = (key: string, path: PropertyKey[], stage: string | undefined, fallback: string, who: string) => {
    const s = stage ?? fallback;
    if (file.stages.includes(s)) return;
    const hint = didYouMean(s, file.stages);
    at(
      key,
      stage === undefined ? path.slice(0, -1) : path,
      `${who}: stage '${s}' is not in stages (${file.stages.join(', ')})${hint ? ` — did you mean '${hint}'?` : stage === undefined ? ` — add it to stages or set 'stage:'` : ''}`,
    );
  };

  const names = new Set(jobNames);
  const stageOfJob = new Map<string, string>();
  for (const { name, spec } of file.jobs) {
    checkStage(name, ['stage'], spec.stage, 'test', `job '${name}'`);
    stageOfJob.set(name, spec.stage ?? 'test');
    if ((name === 'image' && file.build) || (name === 'sonar' && file.sonar)) {
      at(name, [], `job name '${name}' is taken by the ${name === 'image' ? 'build' : 'sonar'} block's job: rename this job`);
    }
    if (name.startsWith('deploy:')) at(name, [], `job names starting with 'deploy:' are reserved for the deploy block's environments`);
    if (name.length > 255) at(name, [], 'job names are at most 255 characters');
  }
  if (file.build) {
    checkStage('build', ['stage'], file.build.stage, 'build', "'build'");
    stageOfJob.set('image', file.build.stage ?? 'build');
    names.add('image');
  }
  if (file.sonar) {
    checkStage('sonar', ['stage'], file.sonar.stage, 'test', "'sonar'");
    stageOfJob.set('sonar', file.sonar.stage ?? 'test');
    names.add('sonar');
  }
  if (file.deploy) {
    checkStage('deploy', ['stage'], file.deploy.stage, 'deploy', "'deploy'");
    for (const [env, spec] of Object.entries(file.deploy.environments)) {
      if (env === 'production' && spec.approval === false) {
        at('deploy', ['environments', env, 'approval'], 'production always needs an approval: remove approval: false');
      }
      // Clusters are the Kubernetes target's: on the Docker host they would be silently ignored.
      for (const key of ['clusters', 'on_cluster_failure'] as const) {
        if (spec.target !== 'kubernetes' && spec[key] !== undefined) {
          at('deploy', ['environments', env, key], `${key} applies to target: kubernetes only (this environment deploys to the Docker host): remove it`);
        }
      }
      checkRules('deploy', ['environments', env, 'rules'], spec.rules);
      checkStrategy(file.deploy, env, (path, message) => at('deploy', path, message));
    }
    checkAnalysis(file.deploy, (path, message) => at('deploy', path, message));
  }
  for (const [i, s] of file.stages.entries()) stageIndex.set(s, i);

  // needs: every target exists, none is in a later stage, no cycles.
  const graph = new Map<string, string[]>();
  const checkNeeds = (key: string, who: string, needs: NeedSpec[] | undefined) => {
    const own = stageIndex.get(stageOfJob.get(who) ?? '') ?? 0;
    const targets: string[] = [];
    for (const [i, n] of (needs ?? []).entries()) {
      const target = needName(n);
      if (target === who) {
        at(key, ['needs', i], `'${who}' needs itself`);
      } else if (!names.has(target)) {
        if (isOptionalNeed(n)) continue;
        const hint = didYouMean(target, [...names]);
        at(key, ['needs', i], `'${who}' needs '${target}', which is not a job of this pipeline${hint ? ` — did you mean '${hint}'?` : ''}`);
      } else if ((stageIndex.get(stageOfJob.get(target) ?? '') ?? 0) > own) {
        at(key, ['needs', i], `'${who}' (stage ${stageOfJob.get(who)}) needs '${target}' of the later stage ${stageOfJob.get(target)}`);
      } else targets.push(target);
    }
    graph.set(who, targets);
  };
  for (const { name, spec } of file.jobs) {
    checkNeeds(name, name, spec.needs);
    checkRules(name, ['rules'], spec.rules);
  }
  if (file.build) {
    checkNeeds('build', 'image', file.build.needs);
    checkRules('build', ['rules'], file.build.rules);
  }
  if (file.sonar) {
    checkNeeds('sonar', 'sonar', file.sonar.needs);
    checkRules('sonar', ['rules'], file.sonar.rules);
  }
  const cycle = findCycle(graph);
  if (cycle) {
    const key = cycle[0] === 'image' ? 'build' : cycle[0]!;
    at(key, ['needs'], `needs form a cycle: ${cycle.join(' → ')}`);
  }
  return problems;

  function checkRules(key: string, path: PropertyKey[], rules: RuleSpec[] | undefined): void {
    for (const [i, rule] of (rules ?? []).entries()) {
      if (rule.if !== undefined) {
        try {
          parseExpression(rule.if);
        } catch (err) {
          if (!(err instanceof ExpressionError)) throw err;
          at(key, [...path, i, 'if'], `rules[${i}].if: ${err.message} (at character ${err.offset + 1} of '${rule.if}')`);
        }
      }
      const changes = Array.isArray(rule.changes) ? rule.changes : (rule.changes?.paths ?? []);
      for (const [kind, list] of [
        ['changes', changes],
        ['exists', rule.exists ?? []],
      ] as const) {
        for (const g of list) {
          try {
            compileGlob(g);
          } catch (err) {
            at(key, [...path, i, kind], `rules[${i}].${kind}: bad glob '${g}': ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
    }
  }
}

type DeployBlock = NonNullable<PipelineFile['deploy']>;

/**
 * What an environment's strategy needs: a canary runs on the Docker host through its front proxy
 * (nginx carries the weights), so it needs `front_proxy`; on Kubernetes the replica ratio carries
 * it (and a traffic router, when named). Rolling and blue-green's scaleDownDelay are Kubernetes'.
 * The problem points at the strategy where it is written (the environment's own, else the deploy block's).
 */
function checkStrategy(deploy: DeployBlock, env: string, at: (path: PropertyKey[], message: string) => void): void {
  const spec = deploy.environments[env];
  if (!spec) return;
  const own = spec.strategy !== undefined;
  const strategy = spec.strategy ?? deploy.strategy;
  const where = own ? ['environments', env, 'strategy'] : ['strategy'];
  const name = own ? `deploy.environments.${env}.strategy` : 'deploy.strategy';
  if (spec.front_proxy !== undefined) {
    if (spec.target === 'kubernetes') {
      at(
        ['environments', env, 'front_proxy'],
        `deploy.environments.${env}.front_proxy: the front proxy is the Docker host's (target: docker); a Kubernetes Service is its own fixed address`,
      );
    } else if (spec.front_proxy.port === spec.port || spec.front_proxy.port === spec.port + 1) {
      at(
        ['environments', env, 'front_proxy', 'port'],
        `deploy.environments.${env}.front_proxy.port: ${spec.front_proxy.port} is one of the release's slot ports (${spec.port} and ${spec.port + 1}): pick another`,
      );
    }
  }
  if (spec.traffic_router !== undefined && spec.target !== 'kubernetes') {
    at(
      ['environments', env, 'traffic_router'],
      `deploy.environments.${env}.traffic_router: a traffic router carries a canary's weight on target: kubernetes; the Docker host's is front_proxy`,
    );
  }
  if (strategy === undefined) return;
  const type = typeof strategy === 'string' ? strategy : 'rolling' in strategy ? 'rolling' : 'blue-green' in strategy ? 'blue-green' : 'canary';
  if (type === 'rolling' && spec.target !== 'kubernetes') {
    at(
      where,
      `${name}: rolling applies to target: kubernetes (the Deployment's rollingUpdate); the Docker host replaces a release blue/green: leave strategy out, or use a canary`,
    );
  }
  if (typeof strategy !== 'string' && 'blue-green' in strategy && spec.target !== 'kubernetes') {
    // The Docker host keeps the previous release until the switch (so an analysis before it can
    // refuse the new one), and removes it right after (so nothing is kept to switch back to).
    const bg = strategy['blue-green'];
    if (bg.scaleDownDelay !== undefined) {
      at(
        [...where, 'blue-green', 'scaleDownDelay'],
        `${name}: blue-green's scaleDownDelay applies to target: kubernetes; the Docker host stops the previous release once the new one serves: leave it out`,
      );
    }
    if (bg.postPromotionAnalysis !== undefined) {
      at(
        [...where, 'blue-green', 'postPromotionAnalysis'],
        `${name}: postPromotionAnalysis applies to target: kubernetes; the Docker host removes the previous release at the switch, so a failing analysis after it would have nothing to switch back to: use prePromotionAnalysis, which runs before the switch`,
      );
    }
  }
  if (type === 'canary' && spec.target !== 'kubernetes' && spec.front_proxy === undefined) {
    at(where, `${name}: a canary on the Docker host needs the front proxy, which carries the weights: add front_proxy: { port: N } to environment ${env}`);
  }
}
