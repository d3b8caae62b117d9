import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { JobContext } from '../jobs/context.js';
import type { PlannedImageJob } from '../planning/plan.js';
import { builtinDockerfilePath } from '../pipeline/templates.js';
import { RegistryClient } from '../registry/registry-client.js';
import type { RunRecord } from '../runs/types.js';

const REGISTRY_TIMEOUT_MS = 30_000;
const RETENTION_SECONDS = 30 * 24 * 3600;

export interface BuiltImage {
  runId: string;
  digest: string;
}

/**
 * What decides an image's content: the commit, the repository it goes to, and every build setting
 * after expansion (Dockerfile, context, args, the built-in template's text, the builder). The same
 * fingerprint builds the same image, whichever run (branch, merge request, merge) asks for it.
 */
export async function imageFingerprint(ctx: JobContext, run: RunRecord, job: PlannedImageJob): Promise<string> {
  const templatePath = job.build.template ? builtinDockerfilePath(job.build.template) : null;
  const template = templatePath ? await readFile(templatePath, 'utf8').catch(() => null) : null;
  const inputs = {
    project: run.request.project.id,
    sha: run.request.sha,
    repository: `${ctx.config.registry.host}/${job.build.image}`,
    dockerfile: job.build.dockerfile,
    context: job.build.context,
    args: Object.entries(job.build.args).sort(([a], [b]) => a.localeCompare(b)),
    template: job.build.template ?? null,
    templateText: template,
    builder: ctx.config.imageBuilder,
  };
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
}

/** Recorded once a build of this fingerprint is pushed, so later runs find it. */
export async function recordBuiltImage(ctx: JobContext, projectId: number, fingerprint: string, image: BuiltImage): Promise<void> {
  await ctx.redis.set(ctx.store.keys.builtImage(projectId, fingerprint), JSON.stringify(image), 'EX', RETENTION_SECONDS);
}

/**
 * An image another run already built with this fingerprint, tagged with this run's tags (a
 * manifest PUT, no build). Undefined when there is none, or when the registry no longer has it
 * (garbage-collected): the caller then builds.
 */
export async function reuseBuiltImage(
  ctx: JobContext,
  opts: { projectId: number; fingerprint: string; image: string; tags: readonly string[]; onLog: (line: string) => void },
): Promise<BuiltImage | undefined> {
  const raw = await ctx.redis.get(ctx.store.keys.builtImage(opts.projectId, opts.fingerprint));
  if (!raw) return undefined;
  const built = JSON.parse(raw) as BuiltImage;
  const { registry } = ctx.config;
  const client = new RegistryClient({
    registry: registry.host,
    timeoutMs: REGISTRY_TIMEOUT_MS,
    ...(registry.username && registry.password ? { auth: { username: registry.username, password: registry.password } } : {}),
  });
  if (!(await client.headManifest(opts.image, built.digest))) {
    opts.onLog(`run ${built.runId} built this image as ${built.digest}, but the registry no longer has it: building again`);
    return undefined;
  }
  const manifest = await client.getManifest(opts.image, built.digest);
  for (const tag of opts.tags) await client.putManifest(opts.image, tag, manifest);
  opts.onLog(`same commit and build settings as run ${built.runId}: tagged its image ${built.digest} as ${opts.tags.join(', ')} instead of building again`);
  return built;
}
