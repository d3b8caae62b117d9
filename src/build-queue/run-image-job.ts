import { readFile } from 'node:fs/promises';
import { FORK_REASONS, type PlannedImageJob } from '../planning/plan.js';
import { builtinDockerfilePath } from '../pipeline/templates.js';
import { branchTag, imageTags } from '../registry/image-tags.js';
import { harborPreflight } from '../registry/harbor-preflight.js';
import type { RunRecord } from '../runs/types.js';
import { messageOf } from '../errors/errors.js';
import type { JobOutcome } from '../scheduler/finish-job.js';
import { pushImage } from '../images/image-push.js';
import { pushImageLayers } from '../images/layer-push.js';
import type { RegistryAuth } from '../registry/registry-digest.js';
import { imageLabels } from '../images/build-options.js';
import { mirrorFor } from '../jobs/work-tree.js';
import { runsForkCode } from '../jobs/job-variables.js';
import { recordBuiltImage, reuseBuiltImage } from './image-reuse.js';
import type { BuildContext } from './build-context.js';

const HARBOR_TIMEOUT_MS = 30_000;

/**
 * The image job: build the SHA straight from the mirror with the `ImageBuilder` the build role
 * chose (no checkout with either builder), tag by short SHA plus the
 * branch and extra tags, push, and record the digest that deploys will use.
 */
export async function runImageJob(ctx: BuildContext, run: RunRecord, job: PlannedImageJob, fingerprint?: string): Promise<JobOutcome> {
  const { store, reporter, config } = ctx;
  // The planner leaves this job out for forks; this keeps the registry's credentials (and a push
  // over the project's tags) from a fork's code even when a recorded plan says otherwise.
  if (runsForkCode(run.request)) return { phase: 'failed', reason: FORK_REASONS.image };
  const repository = `${config.registry.host}/${job.build.image}`;
  const tags = [
    ...new Set([
      ...imageTags({
        sha: run.request.sha,
        ...(run.request.event === 'tag' ? { gitTags: [run.request.ref] } : { branch: run.request.ref }),
        defaultBranch: run.request.project.defaultBranch,
        latestOnDefault: false,
      }),
      ...job.build.tags,
    ]),
  ];
  const [primary] = tags;
  if (!primary) return { phase: 'failed', reason: 'no image tag could be made for this run' };
  const started = await store.updateJob(run.id, job.name, 'running', `building ${repository}:${primary}`);
  // Only this worker writes a running job: its status is the one just written.
  await reporter.jobChanged(run.id, job.name, started && { run, job: started });
  const onLog = (line: string) => void store.appendLog(run.id, job.name, 'stdout', line);
  const auth =
    config.registry.username && config.registry.password
      ? { username: config.registry.username, password: config.registry.password, serveraddress: config.registry.host }
      : undefined;
  try {
    if (config.harbor && auth) {
      const verdict = await harborPreflight({
        url: config.harbor.url,
        username: auth.username,
        password: auth.password,
        image: job.build.image,
        tags,
        timeoutMs: HARBOR_TIMEOUT_MS,
        onLog,
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
    let template: string | undefined;
    if (job.build.template) {
      const templatePath = builtinDockerfilePath(job.build.template);
      if (!templatePath) return { phase: 'failed', reason: `unknown built-in template '${job.build.template}'` };
      template = await readFile(templatePath, 'utf8');
    }
    await ctx.imageBuilder.build({
      mirrorDir,
      sha: run.request.sha,
      ...(subdir ? { contextDir: subdir } : {}),
      dockerfile: job.build.dockerfile,
      ...(template !== undefined ? { dockerfileContent: template } : {}),
      sharedKey: `${run.request.project.path}:${subdir ?? ''}`,
      tags: tags.map((t) => `${repository}:${t}`),
      labels: imageLabels({ sha: run.request.sha, project: run.request.project.path, runId: run.id }),
      buildArgs: job.build.args,
      cacheCandidates: cacheCandidates(run).map((t) => `${repository}:${t}`),
      ...(auth ? { registryAuth: auth } : {}),
      onLog,
      timeoutMs: job.timeoutMs,
    });
    const { digest } = await pushTags(ctx, { repository, tags, knownFrom: cacheCandidates(run), auth, onLog, timeoutMs: job.timeoutMs });
    await store.setImage(run.id, { repository, tags, digest, ref: `${repository}@${digest}` });
    if (fingerprint) await recordBuiltImage(ctx, run.request.project.id, fingerprint, { runId: run.id, digest });
    return { phase: 'success', reason: `pushed ${repository}@${digest}` };
  } catch (err) {
    return { phase: 'failed', reason: `image build or push failed: ${messageOf(err)}` };
  }
}

/** Every tag pushed, by Slipway's own push (the default) or the engine's (`SLIPWAY_IMAGE_PUSH`); the digest is the one the registry serves. */
async function pushTags(
  ctx: BuildContext,
  opts: { repository: string; tags: string[]; knownFrom: string[]; auth: RegistryAuth | undefined; onLog: (line: string) => void; timeoutMs: number },
): Promise<{ digest: string }> {
  const auth = opts.auth ? { auth: opts.auth } : {};
  if (ctx.config.imagePush === 'slipway') {
    return pushImageLayers(ctx.docker, {
      image: opts.repository,
      tags: opts.tags,
      knownFrom: opts.knownFrom,
      ...auth,
      onLog: opts.onLog,
      timeoutMs: opts.timeoutMs,
    });
  }
  const [primary, ...others] = opts.tags;
  const { digest } = await pushImage(ctx.docker, { image: opts.repository, tag: primary ?? '', ...auth, onLog: opts.onLog, timeoutMs: opts.timeoutMs });
  for (const tag of others) await pushImage(ctx.docker, { image: opts.repository, tag, ...auth, onLog: opts.onLog, timeoutMs: opts.timeoutMs });
  return { digest };
}

/** The branch's previous image, then the default branch's (a new branch starts from main's layers). */
function cacheCandidates(run: RunRecord): string[] {
  const refs = run.request.event === 'tag' ? [run.request.project.defaultBranch] : [run.request.ref, run.request.project.defaultBranch];
  return refs.map(branchTag).filter((t): t is string => t !== undefined);
}
