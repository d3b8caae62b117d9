import type { AnalysisTemplate } from '../analysis/types.js';

export type { AnalysisMetric, AnalysisTemplate } from '../analysis/types.js';
import type { JobWhen } from '../pipeline/rules.js';

/**
 * The plan: what a run executes, serialised as JSON into the run record. `jobs` is in a valid
 * topological order (every job comes after all of its `needs`), so a sequential worker may run it
 * front to back; a DAG scheduler starts any job whose needs are done.
 */
export type RetryReason =
  | 'always'
  | 'unknown_failure'
  | 'script_failure'
  | 'api_failure'
  | 'stuck_or_timeout_failure'
  | 'runner_system_failure'
  | 'job_execution_timeout';

export interface PlannedCommon {
  name: string;
  stage: string;
  /** Jobs that must finish first (explicit `needs`, else every planned job of earlier stages). */
  needs: string[];
  /**
   * The needs implied by stages alone (every job of an earlier stage), not named in `needs:` nor by
   * the deploy chain: an optional manual job (allow_failure true, the default) among them does not
   * block, as in GitLab; a DAG need on it does. Absent in older records: every need is hard.
   */
  stageNeeds?: string[];
  /** Jobs whose artifacts are copied into this job's workspace first (a subset of needs). */
  artifactsFrom: string[];
  /** on_success: after needs succeeded; on_failure: only if one failed; always: either; manual: waits for a person. */
  when: JobWhen;
  /** true, or the exit codes that count as an allowed failure; a failure then does not fail the run. */
  allowFailure: boolean | { exitCodes: number[] };
  /** Retry up to `max` more times when the failure is one of `when`; `exitCodes` narrows script_failure. */
  retry: { max: number; when: RetryReason[]; exitCodes?: number[] };
  /** A newer run for the same ref may cancel this job while it runs. */
  interruptible: boolean;
  /** At most one job per (project, resourceGroup) runs at a time, across runs. */
  resourceGroup?: string;
  timeoutMs: number;
}

export interface PlannedCache {
  /** Literal key (variables expanded) or, with keyFiles, a prefix for the hash of those files. */
  key: string;
  /** The key is `${key}-${sha256 of these files' contents}` (GitLab's cache:key:files). */
  keyFiles: string[];
  paths: string[];
  policy: 'pull' | 'push' | 'pull-push';
  when: 'on_success' | 'on_failure' | 'always';
}

export interface PlannedArtifacts {
  paths: string[];
  exclude: string[];
  /** JUnit XML globs: parsed into the run's test report. */
  junit: string[];
  when: 'on_success' | 'on_failure' | 'always';
  /** expire_in; absent: the instance default (SLIPWAY_ARTIFACTS_EXPIRE_DAYS). */
  expireInMs?: number;
  /** `expire_in: never`: the sweep never deletes them. */
  neverExpire?: boolean;
}

export interface PlannedScriptJob extends PlannedCommon {
  kind: 'script';
  image: string;
  /** before_script then script; run in the image's shell with set -e. */
  script: string[];
  /** Pipeline, job and matching-rule variables (file values only: secrets are added at run time). */
  variables: Record<string, string>;
  cache: PlannedCache[];
  artifacts?: PlannedArtifacts;
  /** Regular expression (no slashes) whose last match in the job log gives the coverage percentage. */
  coverage?: string;
  /** `resources:` in millicores and bytes: the step container's requests and limits. */
  resources?: PlannedResources;
}

export interface PlannedAmounts {
  cpuMillis?: number;
  memoryBytes?: number;
}

export interface PlannedResources {
  requests?: PlannedAmounts;
  limits?: PlannedAmounts;
}

export interface BuildSpec {
  /** Repository in the registry (group/service); pushed as <registry>/<image>:<short sha> and tags. */
  image: string;
  /** Path in the repository, or inside the built-in template when `template` is set. */
  dockerfile: string;
  /** Built-in template name: the Dockerfile is pipelines/templates/<template>/Dockerfile. */
  template?: string;
  /** Build context directory in the repository (default: the root). */
  context: string;
  args: Record<string, string>;
  /** Extra tags besides the short SHA (variables expanded). */
  tags: string[];
}

export interface PlannedImageJob extends PlannedCommon {
  kind: 'image';
  name: 'image';
  build: BuildSpec;
}

export interface PlannedSonarJob extends PlannedCommon {
  kind: 'sonar';
  name: 'sonar';
  projectKey: string;
  /** required: a failed quality gate fails the job (and blocks deploys); advisory: reported only. */
  gate: 'required' | 'advisory';
  image?: string;
}

export interface EnvironmentSpec {
  target: 'docker' | 'kubernetes';
  port: number;
  health: string;
  timeout?: number | string;
  variables?: Record<string, string>;
  /** The named registry (SLIPWAY_REGISTRY_<NAME>_*) this environment deploys from; absent: the push registry. */
  registry?: string;
  /** Docker: the front proxy's fixed address for the environment (nginx on 127.0.0.1:port). */
  frontProxy?: { port: number };
  /** Kubernetes: the traffic router that also carries a canary's weight (absent: the replica ratio alone). */
  trafficRouter?: 'nginx-ingress';
}

/** Who may approve, as the file says; src/approvals/rule.ts applies the defaults. */
export interface ApprovalSpec {
  /** Distinct approvers needed. */
  required: number;
  /** GitLab group paths whose members may approve. */
  groups: string[];
  /** GitLab usernames who may approve. */
  users: string[];
  /** Project access level that may approve; absent = Maintainer unless groups or users are given. */
  minAccess?: 'developer' | 'maintainer' | 'owner';
  /** May the change's author approve it? Absent = not on production, yes elsewhere. */
  allowAuthor?: boolean;
}

/** A weekly window in which deploys may start: weekdays (0 = Sunday) and a same-day time range. */
export interface DeployWindowSpec {
  days: number[];
  /** 'HH:MM', 24-hour, in `timezone`. */
  from: string;
  to: string;
  timezone: string;
}

/** GitLab's Deploy Freeze: frozen from each `start` (cron) until the next `end` (cron), in `timezone`. */
export interface FreezeSpec {
  name: string;
  start: string;
  end: string;
  timezone: string;
}

/** The release must have stayed the live one in environment `after` for `ms` before this deploy starts. */
export interface SoakSpec {
  ms: number;
  after: string;
}

/** A canary step: a weight in percent, or a pause (ms; null: until approved). */
export type StrategyStep = { setWeight: number } | { pauseMs: number | null };
/** Kubernetes' rollingUpdate pace: a number of pods or a percent ('25%'). */
export type IntOrPercent = number | string;
export type DeployStrategy =
  | { type: 'rolling'; maxSurge?: IntOrPercent; maxUnavailable?: IntOrPercent }
  | { type: 'blue-green'; scaleDownDelayMs?: number }
  | { type: 'canary'; steps: StrategyStep[] };

export interface PlannedDeployJob extends PlannedCommon {
  kind: 'deploy';
  /** deploy:<environment> */
  name: string;
  environment: string;
  service: string;
  template: string;
  spec: EnvironmentSpec;
  /** Present = the job is `when: manual` until this rule's approvals are recorded. */
  approval?: ApprovalSpec;
  /** Kubernetes clusters to roll out to, the first one as the first wave (empty: the target's default). */
  clusters: string[];
  /** Each cluster's weight for the replica split, when the file gives them (absent: split by free capacity). */
  clusterWeights?: Record<string, number>;
  /** `on_cluster_failure:` when the file sets it (absent: rollback-all). */
  onClusterFailure?: 'rollback-all' | 'keep-healthy';
  strategy: DeployStrategy;
  /** Deploys start only inside one of these (none: any time). */
  windows?: DeployWindowSpec[];
  /** Deploys never start inside one of these. */
  freezes?: FreezeSpec[];
  soak?: SoakSpec;
  /**
   * Analysis templates that must pass once the rollout is healthy (`analysis:`), else the release is
   * rolled back: at each step of a canary; right after the switch of a Kubernetes blue-green (also
   * written as the strategy's `postPromotionAnalysis`), while the previous side is still up.
   */
  analysis?: AnalysisTemplate[];
  /** Blue-green's `prePromotionAnalysis`: must pass on the ready new side before the switch, else it is never switched. */
  prePromotionAnalysis?: AnalysisTemplate[];
}

export type PlannedJob = PlannedScriptJob | PlannedImageJob | PlannedSonarJob | PlannedDeployJob;

export interface SkippedJob {
  name: string;
  /** Why: the rule that left it out ("rules[0]: if $SLIPWAY_BRANCH == 'main' is false"), or the event. */
  reason: string;
}

export interface Plan {
  jobs: PlannedJob[];
  skipped: SkippedJob[];
  stages: string[];
  /** Files merged into the pipeline file (includes), for the record. */
  includes: string[];
}
