import type { BuildBlock, DeploySpec, JobSpec, SonarBlock } from './schema.js';

/** A validated pipeline file: includes merged, extends and defaults applied, hidden jobs dropped. */
export interface PipelineFile {
  stages: string[];
  /** Pipeline-level variables, as strings. */
  variables: Record<string, string>;
  /** Jobs in file order (included files first), each validated. */
  jobs: Array<{ name: string; spec: JobSpec }>;
  build: BuildBlock | undefined;
  sonar: SonarBlock | undefined;
  deploy: DeploySpec | undefined;
  /** Files merged into this one, in order (for the run record and `slipway plan`). */
  includes: string[];
}

export const DEFAULT_STAGES = ['test', 'build', 'deploy'];

export type VarValue = string | number | boolean | { value: string | number | boolean; description?: string | undefined };

export function varsToStrings(vars: Record<string, VarValue> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars ?? {})) out[k] = String(typeof v === 'object' ? v.value : v);
  return out;
}
