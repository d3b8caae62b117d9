import type { PipelineRequest } from '../triggers/types.js';

/** Phases with reasons instead of booleans (Argo's habit): every waiting or failed thing says why. */
export type RunPhase = 'received' | 'planning' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'skipped';
export type JobPhase = 'pending' | 'running' | 'success' | 'failed' | 'skipped' | 'canceled';
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
}

export interface ImageRecord {
  repository: string;
  tags: string[];
  digest: string;
  /** repository@digest: what deploys use. */
  ref: string;
}

export interface DeploymentRecord {
  environment: string;
  target: string;
  url: string;
  image: string;
  at: string;
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
  /** Filled in by the planner from the pipeline file; later workers read it instead of re-reading git. */
  planJson: string | undefined;
}

export interface LogLine {
  t: string;
  job: string;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
}
