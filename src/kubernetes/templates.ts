import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { builtinDeployTemplateDir } from '../config/paths.js';
import type { PreparedRelease, ReleaseRequest } from '../deploy/deploy-target.js';
import { formatProblem } from '../pipeline/errors.js';
import { renderManifests, type ReleaseIdentity, type RenderManifestsResult, type TemplateFile } from './render.js';

/** The built-in template set (pipelines/deploy/kubernetes/). */
export const BUILTIN_KUBERNETES_TEMPLATE = 'kubernetes';
/** The pipeline file's default template: for `target: kubernetes` it means "the repo's deploy/, else the built-in". */
const DEFAULT_TEMPLATE = 'docker-service';
const REPO_DEPLOY_DIR = 'deploy/';

/** Built-in files rendered only when the environment sets their variable. */
const OPTIONAL_BUILTINS: Readonly<Record<string, string>> = {
  'ingress.yml': 'INGRESS_HOST',
  'hpa.yml': 'MAX_REPLICAS',
  'pdb.yml': 'MIN_AVAILABLE',
};

/** Settings of the built-in templates when the environment's `variables:` does not set them. */
export const BUILTIN_DEFAULTS: Readonly<Record<string, string>> = {
  REPLICAS: '2',
  PROGRESS_DEADLINE_SECONDS: '300',
  TERMINATION_GRACE_SECONDS: '30',
  READINESS_PERIOD_SECONDS: '5',
  TARGET_CPU_PERCENT: '80',
  CPU_REQUEST: '100m',
  MEMORY_REQUEST: '128Mi',
};

/** Where a service's manifests come from: the repository at the run's commit. */
export interface RepoReader {
  /** A file's text, or null when it does not exist. */
  file(path: string): Promise<string | null>;
  /** The .yml/.yaml files directly in a directory (name → text), or null when the directory does not exist. */
  dir(path: string): Promise<TemplateFile[] | null>;
}

export type LoadResult = { ok: true; files: TemplateFile[]; source: string } | { ok: false; message: string };

const isYaml = (name: string) => /\.ya?ml$/.test(name);

/**
 * The manifest files of a release. `template` is what the pipeline file says: a path ending in .yml
 * or .yaml (one file in the repository, any number of documents), a path ending in / or containing
 * one (a directory in the repository), or a built-in name (`kubernetes`). Left at its default, the
 * repository's `deploy/` directory when it holds YAML files, else the built-in set.
 */
export async function loadKubernetesTemplates(template: string, values: Record<string, string>, repo: RepoReader): Promise<LoadResult> {
  if (template === DEFAULT_TEMPLATE) {
    const files = await repo.dir(REPO_DEPLOY_DIR);
    if (files && files.length > 0) return { ok: true, files, source: REPO_DEPLOY_DIR };
    return loadBuiltin(BUILTIN_KUBERNETES_TEMPLATE, values);
  }
  if (isYaml(template)) {
    const text = await repo.file(template);
    return text === null
      ? { ok: false, message: `deploy template ${template} not found in the repository` }
      : { ok: true, files: [{ name: template, text }], source: template };
  }
  if (template.includes('/')) {
    const dir = template.endsWith('/') ? template : `${template}/`;
    const files = await repo.dir(dir);
    if (!files) return { ok: false, message: `deploy template directory ${dir} not found in the repository` };
    if (files.length === 0) return { ok: false, message: `deploy template directory ${dir} holds no .yml or .yaml files` };
    return { ok: true, files, source: dir };
  }
  return loadBuiltin(template, values);
}

async function loadBuiltin(name: string, values: Record<string, string>): Promise<LoadResult> {
  const dir = builtinDeployTemplateDir(name);
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isYaml).sort();
  } catch {
    return { ok: false, message: `deploy template '${name}' is not a built-in Kubernetes template (built-in: ${BUILTIN_KUBERNETES_TEMPLATE})` };
  }
  const wanted = names.filter((n) => {
    const needs = OPTIONAL_BUILTINS[n];
    return needs === undefined || (values[needs] ?? '') !== '';
  });
  const files = await Promise.all(wanted.map(async (n) => ({ name: `pipelines/deploy/${name}/${n}`, text: await readFile(path.join(dir, n), 'utf8') })));
  return { ok: true, files, source: `built-in ${name}` };
}

/** What a release is rendered from. */
export interface ReleaseValuesInput {
  identity: ReleaseIdentity;
  image: string;
  port: number;
  healthPath: string;
  /** The environment's `variables:` from the pipeline file: template settings and the pods' config. */
  variables: Record<string, string>;
  /** Project variables for this environment: template values only, never put into the ConfigMap. */
  secrets: Record<string, string>;
}

/** `<service>-config-<hash of the data>`: a config change gets a new name, so the pods roll. */
export function configMapName(service: string, config: Record<string, string>): string {
  const hash = createHash('sha256')
    .update(JSON.stringify(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
    .digest('hex');
  return `${service}-config-${hash.slice(0, 10)}`;
}

/** The `${NAME}` values and the config map of a release; Slipway's own names win over variables. */
export function releaseValues(input: ReleaseValuesInput): { values: Record<string, string>; config: Record<string, string> } {
  const config = { ...input.variables };
  const values = {
    ...BUILTIN_DEFAULTS,
    ...input.secrets,
    ...input.variables,
    SLIPWAY_IMAGE: input.image,
    SLIPWAY_SERVICE: input.identity.service,
    SLIPWAY_ENVIRONMENT: input.identity.environment,
    SLIPWAY_COMMIT_SHA: input.identity.commitSha,
    SLIPWAY_PIPELINE_ID: input.identity.runId,
    SLIPWAY_RUN_URL: input.identity.runUrl,
    SLIPWAY_PORT: String(input.port),
    SLIPWAY_HEALTH_PATH: input.healthPath,
    SLIPWAY_CONFIG_NAME: configMapName(input.identity.service, config),
  };
  return { values, config };
}

/** Loads and renders a release's manifests: the deploy job and `slipway render` share this. */
export async function renderRelease(template: string, input: ReleaseValuesInput, repo: RepoReader): Promise<RenderManifestsResult & { source?: string }> {
  const { values, config } = releaseValues(input);
  const loaded = await loadKubernetesTemplates(template, values, repo);
  if (!loaded.ok) return { ok: false, problems: [{ file: template, line: 1, column: 1, message: loaded.message }] };
  return { ...renderManifests(loaded.files, { values, config, identity: input.identity }), source: loaded.source };
}

/**
 * The Kubernetes target's `prepare` (deploy/deploy-target.ts): the repository's manifests or the
 * built-in set at the run's commit, rendered into parsed YAML and validated; the release carries
 * the objects and the environment's clusters (with their weights and failure policy).
 */
export async function prepareKubernetesRelease(request: ReleaseRequest): Promise<PreparedRelease> {
  const { base } = request;
  const rendered = await renderRelease(
    request.template,
    {
      identity: { service: base.service, environment: base.environment, commitSha: request.commitSha, runId: base.runId, runUrl: request.runUrl },
      image: base.image,
      port: base.port,
      healthPath: base.healthPath,
      variables: request.variables,
      secrets: request.secrets,
    },
    { file: (p) => request.repo.file(p), dir: (p) => request.repo.dir(p, isYaml) },
  );
  if (!rendered.ok) return { ok: false, reason: `deploy manifests are invalid, nothing was applied:\n${rendered.problems.map(formatProblem).join('\n')}` };
  return {
    ok: true,
    spec: {
      ...base,
      kubernetes: {
        manifests: rendered.manifests.map((m) => m.object),
        clusters: request.clusters,
        ...(request.clusterWeights ? { weights: request.clusterWeights } : {}),
        ...(request.onClusterFailure ? { onClusterFailure: request.onClusterFailure } : {}),
      },
    },
    ...(rendered.source ? { source: rendered.source } : {}),
  };
}
