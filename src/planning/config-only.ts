import type { PipelineFile } from '../pipeline/pipeline-file.js';
import type { PlanRequest } from './predefined-variables.js';

/** The built-in default template: on Kubernetes it means the repository's deploy/ directory. */
const DEFAULT_TEMPLATE = 'docker-service';

/**
 * Pure: the repository paths the deploy reads at deploy time, which the image never needs: the
 * deploy template as the pipeline file names it (a file, or a directory: every file under it), and
 * for the default template on Kubernetes the repository's `deploy/` directory. Directories end in /.
 */
export function deployConfigPaths(file: PipelineFile): string[] {
  const deploy = file.deploy;
  if (!deploy) return [];
  const t = deploy.template;
  if (t === DEFAULT_TEMPLATE) return Object.values(deploy.environments).some((e) => e.target === 'kubernetes') ? ['deploy/'] : [];
  if (/\.ya?ml$/.test(t)) return [t.replace(/^\.\//, '')];
  if (t.includes('/')) return [`${t.replace(/^\.\//, '').replace(/\/+$/, '')}/`];
  return []; // a built-in template: nothing in the repository
}

/**
 * Pure: whether two compiled pipeline files differ only in their environments' `variables:` (the
 * config the deploy puts into the pods' environment), so the newer one needs no new image.
 */
export function differsOnlyInEnvironmentVariables(a: PipelineFile, b: PipelineFile): boolean {
  const strip = (f: PipelineFile) => ({
    ...f,
    includes: [],
    deploy: f.deploy && {
      ...f.deploy,
      environments: Object.fromEntries(Object.entries(f.deploy.environments).map(([name, e]) => [name, { ...e, variables: undefined }])),
    },
  });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

export interface ConfigOnlyInput {
  request: PlanRequest;
  file: PipelineFile;
  /** What the push or merge changed; undefined when unknown (then it is not config-only). */
  changedFiles: readonly string[] | undefined;
  /** The pipeline file's name at the repository root. */
  pipelineFile: string;
  /** Whether the pipeline file changed only in its environments' `variables:` (undefined: not compared). */
  pipelineFileConfigOnly: boolean | undefined;
}

export type ConfigOnly = { configOnly: true; files: string[] } | { configOnly: false; why: string };

/**
 * Pure: a change needs no build when it lands on the default branch (a push or a merge), what it
 * changed is known, and every changed file is deploy config: under the deploy template's paths
 * (`deployConfigPaths`), or the pipeline file when only its environments' `variables:` changed.
 * As GitLab's `rules: changes` on a build job would say it, decided for the whole change: one
 * other file and the image is built as usual.
 */
export function configOnlyChange(input: ConfigOnlyInput): ConfigOnly {
  const { request, file, changedFiles } = input;
  if (request.event !== 'push' && request.event !== 'merge') return { configOnly: false, why: `${request.event} pipelines build as usual` };
  if (request.ref !== request.project.defaultBranch) return { configOnly: false, why: `${request.ref} is not the default branch` };
  if (!file.build || !file.deploy) return { configOnly: false, why: 'the pipeline file has no build and deploy' };
  if (changedFiles === undefined || changedFiles.length === 0) return { configOnly: false, why: 'the changed files are not known' };
  const paths = deployConfigPaths(file);
  const isConfig = (f: string) =>
    paths.some((p) => (p.endsWith('/') ? f.startsWith(p) : f === p)) || (f === input.pipelineFile && input.pipelineFileConfigOnly === true);
  const other = changedFiles.find((f) => !isConfig(f));
  if (other !== undefined) return { configOnly: false, why: `${other} is not deploy config` };
  return { configOnly: true, files: [...changedFiles] };
}
