import { readFile } from 'node:fs/promises';
import type { JobContext } from '../jobs/context.js';
import type { PlannedImageJob } from '../pipeline/plan.js';
import { builtinDockerfilePath } from '../pipeline/templates.js';
import { branchTag, imageTags } from '../registry/image-tags.js';
import { harborPreflight } from '../registry/harbor-preflight.js';
import type { RunRecord } from '../runs/types.js';
import { messageOf } from '../errors/errors.js';
import type { JobOutcome } from '../scheduler/finish-job.js';
import { archiveStream } from '../git/git-mirror.js';
import { buildImage, pushImage, type BuildImageOptions } from '../images/classic-builder.js';
import { buildImageWithBuildKit } from '../images/buildkit/build.js';
import { imageLabels } from '../images/build-options.js';
import type { RegistryAuth } from '../registry/registry-digest.js';
import { cacheSources, registryCacheSources } from '../images/layer-cache.js';
import { withExtraFile } from '../images/tar-add-file.js';
import { filterContext, parseDockerignore } from '../images/dockerignore.js';
import { readFileAt } from '../git/git-export.js';
import { mirrorFor } from '../jobs/work-tree.js';
import { recordBuiltImage, reuseBuiltImage } from './image-reuse.js';

const TEMPLATE_DOCKERFILE = '.slipway.Dockerfile';
const HARBOR_TIMEOUT_MS = 30_000;
const CACHE_PULL_TIMEOUT_MS = 5 * 60_000;

/**
 * The image job: build the SHA straight from the mirror (BuildKit over a session, or the classic
 * builder from `git archive`; no checkout either way), tag by short SHA plus the
 * branch and extra tags, push, and record the digest that deploys will use.
 */
export async function runImageJob(ctx: JobContext, run: RunRecord, job: PlannedImageJob, fingerprint?: string): Promise<JobOutcome> {
  const { store, reporter, config } = ctx;
  const repository = `${config.registry.host}/${job.build.image}`;
  const tags = [...new Set([
    ...imageTags({ sha: run.request.sha, ...(run.request.event === 'tag' ? { gitTags: [run.request.ref] } : { branch: run.request.ref }), defaultBranch: run.request.project.defaultBranch, latestOnDefault: false }),
    ...job.build.tags,
  ])];
  const [primary, ...others] = tags;
  if (!primary) return { phase: 'failed', reason: 'no image tag could be made for this run' };
  await store.updateJob(run.id, job.name, 'running', `building ${repository}:${primary}`);
  await reporter.jobChanged(run.id, job.name);
  const onLog = (line: string) => void store.appendLog(run.id, job.name, 'stdout', line);
  const auth = config.registry.username && config.registry.password
    ? { username: config.registry.username, password: config.registry.password, serveraddress: config.registry.host }
    : undefined;
  try {
    if (config.harbor && auth) {
      const verdict = await harborPreflight({
        url: config.harbor.url, username: auth.username, password: auth.password,
        image: job.build.image, tags, timeoutMs: HARBOR_TIMEOUT_MS, onLog,
      });
      if (!verdict.ok) return { phase: 'failed', reason: verdict.reason };
    }
    if (fingerprint) {
      // The same commit built with the same settings by another run (the branch's push, then its
      // merge request): tag that image for this run instead of building it twice.
      const reused = await reuseBuiltImage(ctx, { projectId: run.request.project.id, fingerprint, image: job.build.image, tags, onLog });
      if (reused) {
        await store.setImage(run.id, { repository, tags, digest: reused.digest, ref: `${repository}@${reused.digest}` });
        return { phase: 'success', reason: `reused from run ${reused.runId}: ${repository}@${reused.digest}` };
      }
    }
    const mirrorDir = await mirrorFor(ctx, run);
    const subdir = job.build.context && job.build.context !== '.' ? job.build.context : undefined;
    const build = {
      tags: tags.map((t) => `${repository}:${t}`),
      labels: imageLabels({ sha: run.request.sha, project: run.request.project.path, runId: run.id }),
      buildArgs: job.build.args,
      onLog,
      timeoutMs: job.timeoutMs,
    };
    const candidates = cacheCandidates(run).map((t) => `${repository}:${t}`);
    let template: string | undefined;
    if (job.build.template) {
      const templatePath = builtinDockerfilePath(job.build.template);
      if (!templatePath) return { phase: 'failed', reason: `unknown built-in template '${job.build.template}'` };
      template = await readFile(templatePath, 'utf8');
    }
    if (config.imageBuilder === 'buildkit') {
      const cacheFrom = await registryCacheSources({ registry: config.registry.host, candidates, ...(auth ? { auth } : {}), onLog });
      const result = await buildImageWithBuildKit(ctx.docker, {
        ...build,
        mirrorDir,
        sha: run.request.sha,
        ...(subdir ? { contextDir: subdir } : {}),
        dockerfile: job.build.dockerfile,
        ...(template !== undefined ? { dockerfileContent: template } : {}),
        // The engine keeps this project's context between builds and asks only for changed files.
        sharedKey: `${run.request.project.path}:${subdir ?? ''}`,
        cacheFrom,
        ...(auth ? { registryAuth: auth } : {}),
      });
      const context = result.syncs.filter((s) => s.source === 'context').at(-1);
      // Files the engine did not ask for were unchanged since its last build of this project.
      if (context) onLog(`build context: ${context.entries} entries, ${context.filesSent} ${context.filesSent === 1 ? 'file' : 'files'} sent (${context.bytesSent} bytes)`);
    } else {
      await buildClassic(ctx, { ...build, mirrorDir, sha: run.request.sha, subdir, dockerfile: job.build.dockerfile, template, candidates, auth });
    }
    const { digest } = await pushImage(ctx.docker, { image: repository, tag: primary, ...(auth ? { auth } : {}), onLog, timeoutMs: job.timeoutMs });
    for (const tag of others) await pushImage(ctx.docker, { image: repository, tag, ...(auth ? { auth } : {}), onLog, timeoutMs: job.timeoutMs });
    await store.setImage(run.id, { repository, tags, digest, ref: `${repository}@${digest}` });
    if (fingerprint) await recordBuiltImage(ctx, run.request.project.id, fingerprint, { runId: run.id, digest });
    return { phase: 'success', reason: `pushed ${repository}@${digest}` };
  } catch (err) {
    return { phase: 'failed', reason: `image build or push failed: ${messageOf(err)}` };
  }
}

/** The engine's legacy builder: a context tar from `git archive`, .dockerignore applied here. */
async function buildClassic(
  ctx: JobContext,
  opts: Omit<BuildImageOptions, 'context' | 'dockerfile'> & { mirrorDir: string; sha: string; subdir: string | undefined; dockerfile: string; template: string | undefined; candidates: string[]; auth: RegistryAuth | undefined },
): Promise<void> {
  const { mirrorDir, sha, subdir, template, candidates, auth, ...build } = opts;
  const cacheFrom = await cacheSources(ctx.docker, {
    candidates,
    ...(auth ? { auth } : {}),
    pullTimeoutMs: Math.min(CACHE_PULL_TIMEOUT_MS, opts.timeoutMs),
    onLog: opts.onLog,
  });
  let context = archiveStream({ mirrorDir, sha, ...(subdir ? { subdir } : {}) });
  let dockerfile = opts.dockerfile;
  // .dockerignore works as with `docker build`: ignored files never reach the builder.
  const ignore = await readFileAt(mirrorDir, sha, subdir ? `${subdir}/.dockerignore` : '.dockerignore');
  if (ignore !== null) {
    const rules = parseDockerignore(ignore);
    context = filterContext(context, rules, [dockerfile, '.dockerignore', TEMPLATE_DOCKERFILE]);
    opts.onLog(`.dockerignore: ${rules.length} rules applied to the build context`);
  }
  if (template !== undefined) {
    context = withExtraFile(context, TEMPLATE_DOCKERFILE, template);
    dockerfile = TEMPLATE_DOCKERFILE;
  }
  await buildImage(ctx.docker, { ...build, context, dockerfile, cacheFrom });
}

/** The branch's previous image, then the default branch's (a new branch starts from main's layers). */
function cacheCandidates(run: RunRecord): string[] {
  const refs = run.request.event === 'tag' ? [run.request.project.defaultBranch] : [run.request.ref, run.request.project.defaultBranch];
  return refs.map(branchTag).filter((t): t is string => t !== undefined);
}
