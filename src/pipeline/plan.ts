import type { PipelineRequest } from '../triggers/types.js';
import type { BuildSpec, EnvironmentSpec, PipelineFile } from './schema.js';

export interface PlannedScriptJob {
  kind: 'script';
  name: string;
  stage: string;
  image: string;
  script: string[];
  variables: Record<string, string>;
  timeoutMs: number;
}

export interface PlannedImageJob {
  kind: 'image';
  name: 'image';
  stage: string;
  build: BuildSpec;
}

export interface PlannedDeployJob {
  kind: 'deploy';
  name: string;
  stage: string;
  environment: string;
  service: string;
  template: string;
  spec: EnvironmentSpec;
  timeoutMs: number;
}

export type PlannedJob = PlannedScriptJob | PlannedImageJob | PlannedDeployJob;

export interface Plan {
  jobs: PlannedJob[];
  /** Why jobs of the file are left out of this run (CI-only pipelines, environments needing approval). */
  skipped: Array<{ name: string; reason: string }>;
}

const DEFAULT_JOB_TIMEOUT_MS = 60 * 60 * 1000;
const DEFAULT_DEPLOY_TIMEOUT_MS = 2 * 60 * 1000;

export function durationMs(d: number | string | undefined, fallback: number): number {
  if (d === undefined) return fallback;
  if (typeof d === 'number') return d * 1000;
  const m = /^(\d+)\s*(s|m|h)$/.exec(d);
  if (!m) return fallback;
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
}

/** The environments that deploy on their own; everything else waits for approvals (a later issue). */
const AUTOMATIC_ENVIRONMENTS = ['pre'];

/**
 * Pure: which jobs this request runs, in order. Merges run the full path (tests, image, deploy to
 * pre); merge-request updates and pushes run CI only; tags run nothing yet (release path comes later).
 */
export function planPipeline(file: PipelineFile, request: PipelineRequest): Plan {
  const jobs: PlannedJob[] = [];
  const skipped: Plan['skipped'] = [];
  const stageIndex = (s: string) => {
    const i = file.stages.indexOf(s);
    return i < 0 ? file.stages.length : i;
  };
  const scripts: PlannedScriptJob[] = file.jobs.map(({ name, spec }) => ({
    kind: 'script',
    name,
    stage: spec.stage ?? 'test',
    image: spec.image,
    script: typeof spec.script === 'string' ? [spec.script] : spec.script,
    variables: { ...file.variables, ...Object.fromEntries(Object.entries(spec.variables ?? {}).map(([k, v]) => [k, String(v)])) },
    timeoutMs: durationMs(spec.timeout, DEFAULT_JOB_TIMEOUT_MS),
  }));
  if (request.kind === 'release') {
    return { jobs: [], skipped: scripts.map((j) => ({ name: j.name, reason: 'tag pipelines (the release path) are not built yet' })) };
  }
  jobs.push(...scripts.sort((a, b) => stageIndex(a.stage) - stageIndex(b.stage)));
  if (request.kind === 'ci') {
    if (file.build) skipped.push({ name: 'image', reason: `${request.event} pipelines run CI only; images are built on merge` });
    for (const env of Object.keys(file.deploy?.environments ?? {})) {
      skipped.push({ name: `deploy:${env}`, reason: `${request.event} pipelines do not deploy` });
    }
    return { jobs, skipped };
  }
  if (file.build) jobs.push({ kind: 'image', name: 'image', stage: 'build', build: file.build });
  if (file.deploy) {
    const service = file.deploy.service ?? serviceNameOf(request.project.path);
    for (const [environment, spec] of Object.entries(file.deploy.environments)) {
      if (!file.build) {
        skipped.push({ name: `deploy:${environment}`, reason: 'no build block: there is no image to deploy' });
      } else if (!AUTOMATIC_ENVIRONMENTS.includes(environment)) {
        skipped.push({ name: `deploy:${environment}`, reason: 'needs an approval (approvals are not built yet)' });
      } else {
        jobs.push({
          kind: 'deploy', name: `deploy:${environment}`, stage: 'deploy', environment, service,
          template: file.deploy.template, spec, timeoutMs: durationMs(spec.timeout, DEFAULT_DEPLOY_TIMEOUT_MS),
        });
      }
    }
  }
  return { jobs, skipped };
}

/** A DNS-label-safe service name from the project path (group/My_App → my-app). */
export function serviceNameOf(projectPath: string): string {
  const last = projectPath.split('/').pop() ?? 'service';
  const name = last.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 42);
  return name || 'service';
}
