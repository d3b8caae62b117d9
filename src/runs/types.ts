import type { Plan } from '../planning/plan-types.js';
import type { PipelineRequest } from '../triggers/types.js';

/** Phases with reasons instead of booleans (Argo's habit): every waiting or failed thing says why. */
export type RunPhase = 'received' | 'planning' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'skipped';
/** manual: waits for a person (an approval); queued: ready and handed to a worker. */
export type JobPhase = 'pending' | 'queued' | 'running' | 'success' | 'failed' | 'skipped' | 'canceled' | 'manual';
/** Phases a job never leaves: a redelivered queue job for one of these only nudges the scheduler. */
export const FINISHED_JOB_PHASES: ReadonlySet<JobPhase> = new Set(['success', 'failed', 'skipped', 'canceled']);
export type JobKind = 'script' | 'image' | 'sonar' | 'deploy';

export interface PhaseStatus<P extends string> {
  phase: P;
  reason: string;
  at: string;
}

export interface JobRecord {
  name: string;
  kind: JobKind;
  stage: string;
  status: PhaseStatus<JobPhase>;
  startedAt: string | undefined;
  finishedAt: string | undefined;
  exitCode: number | undefined;
  /** A failure that does not fail the run (allow_failure). */
  allowedFailure?: boolean;
  /** Attempts made (retry: counts from 1). */
  attempt?: number;
  tests?: TestSummary;
  coverage?: number;
  /** A deploy job canceled because a newer run already deployed its environment: that run's id. */
  supersededBy?: string;
  /** Dependency cache outcome, as shown in the job log ("cache hit: node-modules-3f2a…"). */
  cache?: string[];
  /** Where the job's artifacts are in the registry: later jobs of the run fetch them from there, on any node. */
  artifacts?: ArtifactsRecord;
  /** A deploy job's deployment in GitLab's Environments page: its id there and the status last set. */
  gitlabDeployment?: GitlabDeploymentRecord;
  /** A deploy job's copy of the release's image into its environment's registry. */
  promotion?: PromotionRecord;
}

/** The release's image copied into an environment's registry before its rollout (same digest). */
export interface PromotionRecord {
  /** The registry's name (`registry:` in the pipeline file) and host. */
  registry: string;
  host: string;
  /** Repository in that registry, and the reference deployed from it: `host/repository@digest`. */
  repository: string;
  digest: string;
  ref: string;
  /** Where it was copied from (`host/repository@digest`). */
  from: string;
  /** Blobs by digest: copied (bytes moved), mounted (cross-repository, within one registry), already there. */
  copied: string[];
  mounted: string[];
  skipped: string[];
  copiedBytes: number;
  /** Attempts of the whole copy (1 when the first one succeeded). */
  attempts: number;
  at: string;
}

export interface GitlabDeploymentRecord {
  id: number;
  status: 'running' | 'success' | 'failed' | 'canceled';
}

export interface ArtifactsRecord {
  /** `registry/repository:tag@digest` */
  reference: string;
  repository: string;
  tag: string;
  /** Manifest digest; `blobDigest` is the sha256 of the tar. */
  digest: string;
  blobDigest: string;
  files: number;
  bytes: number;
  /** ISO time the sweep deletes them; absent: never (`expire_in: never`). */
  expiresAt?: string;
}

export interface TestSummary {
  passed: number;
  failed: number;
  skipped: number;
  errors: number;
  failures: Array<{ suite: string; name: string; message: string }>;
}

export interface ImageRecord {
  repository: string;
  tags: string[];
  digest: string;
  /** repository@digest: what deploys use. */
  ref: string;
}

export interface SonarRecord {
  status: 'OK' | 'WARN' | 'ERROR' | 'NONE';
  outcome: 'pass' | 'warn' | 'fail';
  dashboardUrl: string;
}

export interface DeploymentRecord {
  environment: string;
  target: string;
  /** Where the release answers ('' when it runs nowhere: `outcome` failed). */
  url: string;
  image: string;
  at: string;
  /** Absent: deployed (older records too). `partial`: some clusters keep the release (keep-healthy); `failed`: none runs it. */
  outcome?: 'deployed' | 'partial' | 'failed';
  /** Per cluster (Kubernetes), what happened. */
  clusters?: ClusterDeploymentRecord[];
}

/** One cluster of a deployment: the state it was left in (see `PlaceState` in deploy/deploy-target.ts). */
export interface ClusterDeploymentRecord {
  name: string;
  state: 'healthy' | 'rolled-back' | 'failed' | 'unreachable' | 'not-applied';
  reason?: string;
  /** 1: the first wave; 2: the clusters after it. */
  wave: number;
  /** Its share of the Deployments' replicas, when they were split. */
  replicas?: number;
}

export interface RunRecord {
  id: string;
  request: PipelineRequest;
  deliveryId: string;
  createdAt: string;
  status: PhaseStatus<RunPhase>;
  jobs: JobRecord[];
  image: ImageRecord | undefined;
  deployments: DeploymentRecord[];
  sonar: SonarRecord | undefined;
  /** Filled in by the planner from the pipeline file; later workers read it instead of re-reading git. */
  plan: Plan | undefined;
}

/** A run without its plan: what lists show, read without parsing the plan. */
export type RunSummary = Omit<RunRecord, 'plan'>;

export interface LogLine {
  t: string;
  job: string;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
}
