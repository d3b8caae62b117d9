import type Dockerode from 'dockerode';
import type { ImageBuilder, ImageBuildRequest, ImageBuildResult } from '../images/image-builder.js';
import { registryCacheSources } from '../images/layer-cache.js';
import { buildImageWithBuildKit } from './build.js';

/**
 * The BuildKit `ImageBuilder` (contract in `../image-builder.ts`): the commit's files go to the
 * engine over a session straight from the mirror, and the registry's earlier images serve as
 * inline cache. `registry` is the configured registry host: only its images are cache sources.
 */
export function createBuildKitBuilder(docker: Dockerode, opts: { registry: string }): ImageBuilder {
  return {
    kind: 'buildkit',
    async build(req: ImageBuildRequest): Promise<ImageBuildResult> {
      const auth = req.registryAuth;
      const cacheFrom = await registryCacheSources({ registry: opts.registry, candidates: req.cacheCandidates, ...(auth ? { auth } : {}), onLog: req.onLog });
      const result = await buildImageWithBuildKit(docker, {
        mirrorDir: req.mirrorDir,
        sha: req.sha,
        ...(req.contextDir ? { contextDir: req.contextDir } : {}),
        dockerfile: req.dockerfile,
        ...(req.dockerfileContent !== undefined ? { dockerfileContent: req.dockerfileContent } : {}),
        // The engine keeps this project's context between builds and asks only for changed files.
        sharedKey: req.sharedKey,
        tags: req.tags,
        labels: req.labels,
        buildArgs: req.buildArgs,
        cacheFrom,
        ...(auth ? { registryAuth: auth } : {}),
        onLog: req.onLog,
        timeoutMs: req.timeoutMs,
      });
      const context = result.syncs.filter((s) => s.source === 'context').at(-1);
      // Files the engine did not ask for were unchanged since its last build of this project.
      if (context)
        req.onLog(
          `build context: ${context.entries} entries, ${context.filesSent} ${context.filesSent === 1 ? 'file' : 'files'} sent (${context.bytesSent} bytes)`,
        );
      return { imageId: result.imageId };
    },
  };
}
