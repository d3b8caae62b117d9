import type Dockerode from 'dockerode';
import { dockerMessage } from '../executors/docker-errors.js';
import { followProgress, type ProgressEvent } from '../executors/docker-progress.js';
import { withTimeout } from '../executors/with-timeout.js';
import { readFileAt } from '../git/git-export.js';
import { archiveStream } from '../git/git-mirror.js';
import { splitTag, toBuildOptions } from './build-options.js';
import { filterContext, parseDockerignore } from './dockerignore.js';
import type { ImageBuilder, ImageBuildRequest, ImageBuildResult } from './image-builder.js';
import { cacheSources } from './layer-cache.js';
import { withExtraFile } from './tar-add-file.js';

export interface BuildImageOptions {
  /** A tar stream of the build context, e.g. archiveStream() of the commit. */
  context: NodeJS.ReadableStream;
  /** Path of the Dockerfile inside the context. */
  dockerfile: string;
  tags: string[];
  /** Use imageLabels() for the revision/project/run labels. */
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  /** Images to take layers from besides the engine's local cache (see layer-cache.ts). */
  cacheFrom?: readonly string[];
  onLog: (line: string) => void;
  timeoutMs: number;
}

const STEP = /^Step \d+\/\d+ : (.*)$/;
const TEMPLATE_DOCKERFILE = '.slipway.Dockerfile';
const CACHE_PULL_TIMEOUT_MS = 5 * 60_000;

/**
 * The classic `ImageBuilder` (contract in `image-builder.ts`): the engine's legacy builder fed a
 * context tar from `git archive`, with .dockerignore applied here and a built-in template's
 * Dockerfile added to the tar. Cache sources are pulled onto the engine first (`cachefrom`).
 */
export function createClassicBuilder(docker: Dockerode): ImageBuilder {
  return {
    kind: 'classic',
    async build(req: ImageBuildRequest): Promise<ImageBuildResult> {
      const { mirrorDir, sha, contextDir: subdir, onLog } = req;
      const cacheFrom = await cacheSources(docker, {
        candidates: req.cacheCandidates,
        ...(req.registryAuth ? { auth: req.registryAuth } : {}),
        pullTimeoutMs: Math.min(CACHE_PULL_TIMEOUT_MS, req.timeoutMs),
        onLog,
      });
      let context = archiveStream({ mirrorDir, sha, ...(subdir ? { subdir } : {}) });
      let dockerfile = req.dockerfile;
      // .dockerignore works as with `docker build`: ignored files never reach the builder.
      const ignore = await readFileAt(mirrorDir, sha, subdir ? `${subdir}/.dockerignore` : '.dockerignore');
      if (ignore !== null) {
        const rules = parseDockerignore(ignore);
        context = filterContext(context, rules, [dockerfile, '.dockerignore', TEMPLATE_DOCKERFILE]);
        onLog(`.dockerignore: ${rules.length} rules applied to the build context`);
      }
      if (req.dockerfileContent !== undefined) {
        context = withExtraFile(context, TEMPLATE_DOCKERFILE, req.dockerfileContent);
        dockerfile = TEMPLATE_DOCKERFILE;
      }
      return buildImage(docker, {
        context,
        dockerfile,
        tags: req.tags,
        labels: req.labels,
        buildArgs: req.buildArgs,
        cacheFrom,
        onLog,
        timeoutMs: req.timeoutMs,
      });
    },
  };
}

/**
 * Builds an image with the engine's builder. Failures arrive inside the
 * progress stream, so the error names the step that failed ("RUN make"),
 * not just the engine's message. Safe to repeat: the layer cache makes a
 * second build of the same context cheap and the tags simply move.
 */
export async function buildImage(docker: Dockerode, opts: BuildImageOptions): Promise<{ imageId: string }> {
  const abort = new AbortController();
  const deadline = Date.now() + opts.timeoutMs;
  let step = '';
  let imageId = '';
  // A failing context (git archive died) must fail the build, not leave it waiting for bytes.
  let contextError: Error | undefined;
  opts.context.on('error', (err: Error) => {
    contextError = err;
    abort.abort();
  });
  const describe = (message: string): string =>
    contextError ? `build context failed: ${contextError.message}` : step ? `step "${step}" failed: ${message}` : message;
  const onEvent = (e: ProgressEvent): void => {
    for (const line of (e.stream ?? '').split('\n')) {
      const text = line.trimEnd();
      if (text === '') continue;
      const m = STEP.exec(text);
      if (m?.[1] !== undefined) step = m[1];
      opts.onLog(text);
    }
    if (e.aux?.ID) imageId = e.aux.ID;
  };
  try {
    const stream = await withTimeout(docker.buildImage(opts.context, { ...toBuildOptions(opts), abortSignal: abort.signal }), opts.timeoutMs, 'image build');
    await followProgress(docker, stream, { timeoutMs: Math.max(1, deadline - Date.now()), abort, onEvent });
  } catch (err) {
    abort.abort();
    throw new Error(`image build failed: ${describe(dockerMessage(err))}`);
  }
  const [first, ...rest] = opts.tags;
  if (!imageId && first) imageId = (await withTimeout(docker.getImage(first).inspect(), 30_000, 'image inspect')).Id;
  for (const ref of rest) {
    await withTimeout(docker.getImage(imageId).tag(splitTag(ref)), 30_000, `tag ${ref}`);
  }
  return { imageId };
}

export { pushImage, type PushImageOptions } from './image-push.js';
