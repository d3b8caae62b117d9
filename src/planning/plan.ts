import { topoOrder } from '../pipeline/dag.js';
import { analysisGatesOf } from './analysis.js';
import { allowFailureOf, approvalOf, artifactsOf, cacheOf, resourcesOf, durationMs, expandVariables, gatesOf, retryOf, strategyOf } from './normalize.js';
import type { PipelineFile } from '../pipeline/pipeline-file.js';
import { varsToStrings } from '../pipeline/pipeline-file.js';
import type { Plan, PlannedCommon, PlannedDeployJob, PlannedJob, SkippedJob } from './plan-types.js';
import { predefinedVariables, type PlanRequest } from './predefined-variables.js';
import { evaluateRules, type RuleInputs, type RuleOutcome } from '../pipeline/rules.js';
import type { EnvironmentBlock, NeedSpec, RuleSpec } from '../pipeline/schema.js';
import { isOptionalNeed, needName } from '../pipeline/semantics.js';
import { runsForkCode } from '../triggers/types.js';

export type * from './plan-types.js';
export { durationMs } from './normalize.js';

const DEFAULT_JOB_TIMEOUT_MS = 60 * 60 * 1000;
const DEFAULT_BUILD_TIMEOUT_MS = 30 * 60 * 1000;
const DEFAULT_DEPLOY_TIMEOUT_MS = 2 * 60 * 1000;

/**
 * Why a fork merge request's pipeline leaves a job out, whatever the job's rules say: each of these
 * jobs needs a secret, the registry's credentials or the host network, which a fork's code never gets.
 */
export const FORK_REASONS = {
  sonar: 'merge requests from forks get no secrets: the sonar job needs SONAR_TOKEN and the host network',
  image: 'merge requests from forks get no registry credentials: no image is built or pushed',
  deploy: 'merge requests from forks never deploy',
} as const;

export interface PlanOptions {
  /** The run id (SLIPWAY_PIPELINE_ID in rules); 'dry-run' when only previewing. */
  pipelineId?: string | undefined;
  /** Changed files for `changes:` (see changed-files.ts); undefined = no base, `changes` holds. */
  changedFiles?: readonly string[] | undefined;
  /** Repository files for `exists:`; undefined = not listed, `exists` holds. */
  repoFiles?: readonly string[] | undefined;
  /**
   * Extra variables rules and image: may read (project variables that are not masked). They win over
   * the file's and the job's `variables`, as project variables do in the job's environment (and in
   * GitLab). Never recorded in the plan.
   */
  variables?: Readonly<Record<string, string>> | undefined;
  /**
   * An image already built that this run deploys instead of building one (a config-only change, a
   * config release): the image job is left out with this reason, and deploys do not wait for it.
   * The caller records the image on the run.
   */
  reusedImage?: { reason: string } | undefined;
}

/** A job before ordering: its rule outcome and what it asked for. */
interface Candidate {
  job: PlannedJob;
  explicitNeeds: NeedSpec[] | undefined;
  rank: number;
}

/**
 * Pure: which jobs this request runs, in topological order, and why every other job is left out.
 * No I/O: changed files, repository files and extra variables come in through `opts`.
 */
export function planPipeline(file: PipelineFile, request: PlanRequest, opts: PlanOptions = {}): Plan {
  const inputs: RuleInputs = { changedFiles: opts.changedFiles, repoFiles: opts.repoFiles };
  const predefined = predefinedVariables({ pipelineId: opts.pipelineId ?? 'dry-run', request });
  const project = opts.variables ?? {};
  const base = { ...predefined, ...file.variables, ...project };
  const stageRank = (s: string) => (file.stages.indexOf(s) < 0 ? file.stages.length : file.stages.indexOf(s)) * 10_000;
  const skipped: SkippedJob[] = [];
  const candidates: Candidate[] = [];
  const common = (
    name: string,
    stage: string,
    outcome: Extract<RuleOutcome, { run: true }>,
    extra: Partial<Omit<PlannedCommon, 'name' | 'stage'>> & { timeoutMs: number },
  ): PlannedCommon => ({
    name,
    stage,
    needs: [],
    artifactsFrom: [],
    when: outcome.when,
    allowFailure: allowFailureOf(undefined, outcome.allowFailure, outcome.when),
    retry: { max: 0, when: ['always'] },
    interruptible: false,
    ...extra,
  });
  const decide = (
    name: string,
    rules: RuleSpec[] | undefined,
    when: RuleSpec['when'],
    vars: Record<string, string>,
    defaultRule?: () => string | null,
  ): RuleOutcome => {
    const why = rules === undefined && defaultRule ? defaultRule() : null;
    if (why !== null) {
      skipped.push({ name, reason: why });
      return { run: false, reason: why };
    }
    const outcome = evaluateRules(rules, when, vars, inputs);
    if (!outcome.run) skipped.push({ name, reason: outcome.reason });
    return outcome;
  };
  const fork = runsForkCode(request);
  const leaveOut = (name: string, reason: string): RuleOutcome => {
    skipped.push({ name, reason });
    return { run: false, reason };
  };

  for (const [index, { name, spec }] of file.jobs.entries()) {
    const jobVars = { ...file.variables, ...varsToStrings(spec.variables) };
    const outcome = decide(name, spec.rules, spec.when, { ...base, ...jobVars, ...project });
    if (!outcome.run) continue;
    const variables = { ...jobVars, ...outcome.variables };
    const all = { ...base, ...variables, ...project };
    const stage = spec.stage ?? 'test';
    const toList = (s: string | string[] | undefined) => (s === undefined ? [] : typeof s === 'string' ? [s] : s);
    const artifacts = artifactsOf(spec.artifacts);
    const resources = resourcesOf(spec.resources);
    candidates.push({
      explicitNeeds: spec.needs,
      rank: stageRank(stage) + index,
      job: {
        ...common(name, stage, outcome, {
          timeoutMs: durationMs(spec.timeout, DEFAULT_JOB_TIMEOUT_MS),
          allowFailure: allowFailureOf(spec.allow_failure, outcome.allowFailure, outcome.when),
          retry: retryOf(spec.retry),
          interruptible: spec.interruptible ?? false,
          ...(spec.resource_group !== undefined ? { resourceGroup: expandVariables(spec.resource_group, all) } : {}),
        }),
        kind: 'script',
        image: expandVariables(spec.image ?? '', all),
        script: [...toList(spec.before_script), ...toList(spec.script)],
        variables,
        cache: cacheOf(spec.cache, name, all),
        ...(artifacts ? { artifacts } : {}),
        ...(spec.coverage !== undefined ? { coverage: /^\/(.*)\/$/s.exec(spec.coverage)?.[1] ?? spec.coverage } : {}),
        ...(resources ? { resources } : {}),
      },
    });
  }

  const n = file.jobs.length;
  const builds = request.kind === 'full' || request.event === 'tag' || request.event === 'manual' || request.event === 'config';
  let imageReused = false;
  if (file.build) {
    const b = file.build;
    const outcome = fork
      ? leaveOut('image', FORK_REASONS.image)
      : decide('image', b.rules, undefined, base, () => (builds ? null : `${request.event} pipelines run CI only; images are built on merge`));
    if (outcome.run && opts.reusedImage) {
      skipped.push({ name: 'image', reason: opts.reusedImage.reason });
      imageReused = true;
    } else if (outcome.run) {
      // Expanded values (branch names) may hold characters a tag cannot: made tag-safe.
      const tagSafe = (t: string) =>
        t
          .replace(/[^A-Za-z0-9_.-]/g, '-')
          .replace(/^[.-]+/, '')
          .slice(0, 128);
      const tags = (b.tags ?? []).map((t) => tagSafe(expandVariables(t, base))).filter((t) => t !== '');
      if (request.event === 'tag') tags.push(tagSafe(request.ref));
      const stage = b.stage ?? 'build';
      candidates.push({
        explicitNeeds: b.needs,
        rank: stageRank(stage) + n,
        job: {
          ...common('image', stage, outcome, { timeoutMs: durationMs(b.timeout, DEFAULT_BUILD_TIMEOUT_MS) }),
          kind: 'image',
          name: 'image',
          build: {
            image: b.image,
            dockerfile: b.dockerfile,
            ...(b.template !== undefined ? { template: b.template } : {}),
            context: b.context ?? '.',
            args: Object.fromEntries(Object.entries(b.args ?? {}).map(([k, v]) => [k, expandVariables(String(v), base)])),
            tags: [...new Set(tags)],
          },
        },
      });
    }
  }

  if (file.sonar) {
    const s = file.sonar;
    const outcome = fork ? leaveOut('sonar', FORK_REASONS.sonar) : decide('sonar', s.rules, undefined, base);
    if (outcome.run) {
      const stage = s.stage ?? 'test';
      candidates.push({
        explicitNeeds: s.needs,
        rank: stageRank(stage) + n + 1,
        job: {
          ...common('sonar', stage, outcome, { timeoutMs: durationMs(s.timeout, DEFAULT_JOB_TIMEOUT_MS) }),
          kind: 'sonar',
          name: 'sonar',
          projectKey: s.project_key,
          gate: s.gate,
          allowFailure: s.gate === 'advisory',
          ...(s.image !== undefined ? { image: s.image } : {}),
        },
      });
    }
  }

  if (file.deploy) planDeploys(file, request, base, candidates, skipped, decide, common, stageRank, n + 2, imageReused);
  return { jobs: order(candidates, skipped), skipped, stages: file.stages, includes: file.includes };
}

type Decide = (
  name: string,
  rules: RuleSpec[] | undefined,
  when: RuleSpec['when'],
  vars: Record<string, string>,
  defaultRule?: () => string | null,
) => RuleOutcome;
type Common = (
  name: string,
  stage: string,
  outcome: Extract<RuleOutcome, { run: true }>,
  extra: Partial<Omit<PlannedCommon, 'name' | 'stage'>> & { timeoutMs: number },
) => PlannedCommon;

function planDeploys(
  file: PipelineFile,
  request: PlanRequest,
  base: Record<string, string>,
  candidates: Candidate[],
  skipped: SkippedJob[],
  decide: Decide,
  common: Common,
  stageRank: (s: string) => number,
  rank0: number,
  imageReused: boolean,
): void {
  const deploy = file.deploy!;
  const service = deploy.service ?? serviceNameOf(request.project.path);
  const deploys = request.kind === 'full' || request.event === 'manual' || request.event === 'config';
  const imageJob = candidates.some((c) => c.job.kind === 'image');
  const imagePlanned = imageJob || imageReused;
  const stage = deploy.stage ?? 'deploy';
  let previous: string | undefined;
  const listed = Object.keys(deploy.environments);
  for (const [i, [environment, env]] of Object.entries(deploy.environments).entries()) {
    const name = `deploy:${environment}`;
    const vars = { ...base, SLIPWAY_ENVIRONMENT: environment };
    if (runsForkCode(request)) {
      skipped.push({ name, reason: FORK_REASONS.deploy });
      continue;
    }
    const outcome = decide(name, env.rules, undefined, vars, () => {
      if (!file.build) return 'no build block: there is no image to deploy';
      if (!env.rules && !deploys) return `${request.event} pipelines do not deploy`;
      return null;
    });
    if (!outcome.run) continue;
    if (!imagePlanned) {
      skipped.push({ name, reason: 'the image job is not in this pipeline: there is no image to deploy' });
      continue;
    }
    const approval = approvalOf(environment, env.approval);
    const when = approval ? 'manual' : outcome.when;
    // A reused image is there already: nothing to wait for.
    const needs: NeedSpec[] = imageJob ? ['image'] : [];
    if (candidates.some((c) => c.job.kind === 'sonar' && c.job.gate === 'required')) needs.push('sonar');
    // Environments are promoted in the order they are listed: production after pre.
    if (previous) needs.push(previous);
    const job: PlannedDeployJob = {
      ...common(
        name,
        stage,
        { ...outcome, when },
        {
          timeoutMs: durationMs(env.timeout, DEFAULT_DEPLOY_TIMEOUT_MS),
          resourceGroup: env.resource_group !== undefined ? expandVariables(env.resource_group, vars) : `deploy:${service}:${environment}`,
          allowFailure: false,
        },
      ),
      kind: 'deploy',
      environment,
      service,
      template: deploy.template,
      spec: {
        target: env.target,
        port: env.port,
        health: env.health,
        ...(env.timeout !== undefined ? { timeout: env.timeout } : {}),
        ...(env.variables !== undefined ? { variables: varsToStrings(env.variables) } : {}),
        ...(env.registry !== undefined ? { registry: env.registry } : {}),
        ...(env.front_proxy !== undefined ? { frontProxy: { port: env.front_proxy.port } } : {}),
        ...(env.traffic_router !== undefined ? { trafficRouter: env.traffic_router } : {}),
      },
      ...(approval ? { approval } : {}),
      clusters: (env.clusters ?? []).map((c) => (typeof c === 'string' ? c : c.name)),
      ...clusterWeightsOf(env.clusters),
      ...(env.on_cluster_failure ? { onClusterFailure: env.on_cluster_failure } : {}),
      strategy: strategyOf(env.strategy ?? deploy.strategy, env.target),
      ...gatesOf(env, i > 0 ? listed[i - 1] : undefined),
      ...analysisGatesOf(env.analysis, env.strategy ?? deploy.strategy, deploy.analysis ?? {}),
    };
    candidates.push({ explicitNeeds: undefined, rank: stageRank(stage) + rank0 + i, job });
    // Implied by stage too, but explicit so a DAG scheduler never deploys before the image exists.
    (job as { needs: string[] }).needs = needs.map(needName);
    previous = name;
  }
}

/** Resolve needs against what is planned, drop jobs whose hard needs are out, order topologically. */
function order(candidates: Candidate[], skipped: SkippedJob[]): PlannedJob[] {
  let live = [...candidates];
  for (let changed = true; changed; ) {
    changed = false;
    const names = new Set(live.map((c) => c.job.name));
    const next: Candidate[] = [];
    for (const c of live) {
      const missing = (c.explicitNeeds ?? []).find((n) => !isOptionalNeed(n) && !names.has(needName(n)));
      const deployMissing = c.job.kind === 'deploy' ? c.job.needs.find((n) => !names.has(n) && n !== 'sonar') : undefined;
      const gone = missing !== undefined ? needName(missing) : deployMissing;
      if (gone !== undefined) {
        const why = skipped.find((s) => s.name === gone)?.reason;
        // Name the root cause once instead of nesting every step of a cascade.
        const cause = why?.startsWith('needs ') ? why.replace(/^needs '[^']*', which is not in this pipeline ?/, '') : why ? `(${gone}: ${why})` : '';
        skipped.push({ name: c.job.name, reason: `needs '${gone}', which is not in this pipeline${cause ? ` ${cause}` : ''}` });
        changed = true;
      } else next.push(c);
    }
    live = next;
  }
  const names = new Set(live.map((c) => c.job.name));
  const withArtifacts = new Set(live.filter((c) => c.job.kind === 'script' && (c.job.artifacts?.paths.length ?? 0) > 0).map((c) => c.job.name));
  for (const c of live) {
    if (c.explicitNeeds !== undefined) {
      const kept = c.explicitNeeds.filter((n) => names.has(needName(n)));
      c.job.needs = kept.map(needName);
      c.job.artifactsFrom = kept.filter((n) => (typeof n === 'string' || n.artifacts !== false) && withArtifacts.has(needName(n))).map(needName);
    } else {
      // Stage semantics: every planned job of an earlier stage.
      const implied = live.filter((o) => Math.floor(o.rank / 10_000) < Math.floor(c.rank / 10_000)).map((o) => o.job.name);
      const named = new Set(c.job.needs);
      c.job.needs = [...new Set([...c.job.needs, ...implied])];
      const stageOnly = implied.filter((n) => !named.has(n));
      if (stageOnly.length > 0) c.job.stageNeeds = stageOnly;
      c.job.artifactsFrom = implied.filter((n) => withArtifacts.has(n));
    }
  }
  const rankOf = new Map(live.map((c) => [c.job.name, c.rank]));
  return topoOrder(
    live.map((c) => c.job),
    (j) => j.name,
    (j) => j.needs,
    (j) => rankOf.get(j.name) ?? 0,
  );
}

/** A DNS-label-safe service name from the project path (group/My_App → my-app). */
export function serviceNameOf(projectPath: string): string {
  const last = projectPath.split('/').pop() ?? 'service';
  const name = last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 42);
  return name || 'service';
}

/** `clusters: [{ name, weight }]` → the plan's weights; a plain list has none. */
function clusterWeightsOf(clusters: EnvironmentBlock['clusters']): { clusterWeights?: Record<string, number> } {
  const weighted = (clusters ?? []).flatMap((c) => (typeof c === 'string' ? [] : [[c.name, c.weight] as const]));
  return weighted.length > 0 ? { clusterWeights: Object.fromEntries(weighted) } : {};
}
