import type { NamedRegistry, SlipwayConfig } from '../config/config.js';
import { messageOf } from '../errors/errors.js';
import type { PlannedDeployJob } from '../planning/plan.js';
import { promoteWithRetries } from '../registry/promote-with-retries.js';
import { RegistryClient, type Credentials } from '../registry/registry-client.js';
import type { ImageRecord, PromotionRecord, RunRecord } from '../runs/types.js';
import type { DeployContext } from './deploy-context.js';

/** The image as the environment deploys it: its repository and reference are the environment registry's. */
export type EnvironmentImage = { ok: true; image: ImageRecord } | { ok: false; reason: string };

/**
 * Makes the release's image present in the registry the environment deploys from (`registry:` in
 * the pipeline file), then checks it is there, before anything is applied:
 *
 * - no `registry:`: the image is deployed from where it was pushed, as is;
 * - another registry (or another Harbor project): the image is promoted, same digest, only the
 *   blobs it lacks (mounted within one registry), retried as a whole with backoff, and recorded on
 *   the job (`promotion`); unless that registry says `PROMOTE=false` (it is fed by replication);
 * - then HEAD manifest by digest in that registry: missing, the deploy fails naming registry,
 *   repository and digest.
 *
 * The reference deployed is then `host/repository@digest` in the environment's registry.
 */
export async function imageForEnvironment(
  ctx: DeployContext,
  run: RunRecord,
  image: ImageRecord,
  job: PlannedDeployJob,
  onLog: (line: string) => void,
): Promise<EnvironmentImage> {
  const name = job.spec.registry;
  if (name === undefined) return { ok: true, image };
  const { config } = ctx;
  const { environment } = job;
  const target = config.registries[name];
  if (!target) {
    const known = Object.keys(config.registries);
    return {
      ok: false,
      reason:
        `environment ${environment} deploys from registry '${name}', which is not configured on this Slipway ` +
        `(SLIPWAY_REGISTRY_${name.toUpperCase()}_HOST; configured: ${known.length > 0 ? known.join(', ') : 'none'}); nothing was deployed`,
    };
  }
  const source = splitRepository(image.repository);
  if (!source) return { ok: false, reason: `the run's image repository ${image.repository} has no registry host; nothing was deployed` };
  const { digest } = image;
  const repository = target.project ? withProject(source.path, target.project) : source.path;
  const where = `registry ${name} (${target.host})`;
  const auth = credentials(target);
  const here = sameHost(source.host, target.host) && source.path === repository;
  let promotion: PromotionRecord | undefined;

  if (!here && target.promote) {
    const from = `${image.repository}@${digest}`;
    onLog(`promoting ${from} to ${where} as ${repository}`);
    const sourceAuth = credentialsFor(config, source.host);
    try {
      const { result, attempts } = await promoteWithRetries(
        {
          from: { registry: source.host, repository: source.path, reference: digest, ...(sourceAuth ? { auth: sourceAuth } : {}) },
          to: { registry: target.host, repository, tag: image.tags[0] ?? `sha256-${digest.slice(7, 19)}`, ...(auth ? { auth } : {}) },
          onLog,
        },
        config.promotion,
        onLog,
      );
      promotion = {
        registry: name,
        host: target.host,
        repository,
        digest: result.digest,
        ref: `${target.host}/${repository}@${result.digest}`,
        from,
        copied: result.copiedBlobs,
        mounted: result.mountedBlobs,
        skipped: result.skippedBlobs,
        copiedBytes: result.copiedBytes,
        attempts,
        at: new Date().toISOString(),
      };
    } catch (err) {
      return { ok: false, reason: `promotion of ${from} to ${where} failed: ${messageOf(err)}; nothing was deployed` };
    }
  } else if (!here) {
    onLog(`${where} is fed by replication (SLIPWAY_REGISTRY_${name.toUpperCase()}_PROMOTE=false): not promoting, only checking`);
  }

  // Checked even right after a promotion: what matters is what the registry serves when the rollout starts.
  const missing = `${where} has no ${repository}@${digest}: ${environment} deploys only an image present in its registry`;
  try {
    const head = await new RegistryClient({ registry: target.host, ...(auth ? { auth } : {}) }).headManifest(repository, digest);
    if (!head) return { ok: false, reason: `${missing}${target.promote ? '' : ' (promotion into it is off)'}; nothing was deployed` };
    if (head.digest !== digest) return { ok: false, reason: `${where} serves ${head.digest} for ${repository}@${digest}; nothing was deployed` };
  } catch (err) {
    return { ok: false, reason: `cannot check that ${where} has ${repository}@${digest}: ${messageOf(err)}; nothing was deployed` };
  }
  const ref = `${target.host}/${repository}@${digest}`;
  onLog(`${where} has ${repository}@${digest}: deploying ${ref}`);
  await ctx.store.updateJob(run.id, job.name, 'running', `deploying ${ref} to ${environment}`, promotion ? { promotion } : {});
  return { ok: true, image: { ...image, repository: `${target.host}/${repository}`, ref } };
}

function splitRepository(repository: string): { host: string; path: string } | undefined {
  const slash = repository.indexOf('/');
  if (slash <= 0) return undefined;
  return { host: repository.slice(0, slash), path: repository.slice(slash + 1) };
}

/** Harbor keeps a repository under its project, the first path segment: `pre/app` → `prod/app`. */
function withProject(path: string, project: string): string {
  const segments = path.split('/');
  return segments.length > 1 ? [project, ...segments.slice(1)].join('/') : `${project}/${path}`;
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) =>
    h
      .toLowerCase()
      .replace(/^localhost(?=:|$)/, '127.0.0.1')
      .replace(/:443$/, '');
  return norm(a) === norm(b);
}

function credentials(r: { username: string | undefined; password: string | undefined }): Credentials | undefined {
  return r.username !== undefined && r.password !== undefined ? { username: r.username, password: r.password } : undefined;
}

/** The source's credentials: the push registry's, else a named registry's on that host. */
function credentialsFor(config: SlipwayConfig, host: string): Credentials | undefined {
  if (sameHost(host, config.registry.host)) return credentials(config.registry);
  const named = Object.values(config.registries).find((r: NamedRegistry) => sameHost(r.host, host) && r.username !== undefined);
  return named ? credentials(named) : undefined;
}
