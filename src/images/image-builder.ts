import type { RegistryAuth } from '../registry/registry-digest.js';

/**
 * The image-builder seam: turn one commit of a project's mirror into a tagged image on the engine.
 * Implementations: BuildKit (`src/buildkit/builder.ts`, a module of its own standing on this one:
 * the engine's BuildKit, fed the commit's files from the mirror over a session) and classic
 * (`classic-builder.ts`: the legacy builder with a `git archive` tar). Which one runs is chosen
 * once, by `createImageBuilder()` (`roles/create-image-builder.ts`) from `SLIPWAY_IMAGE_BUILDER`,
 * when the build role is wired.
 *
 * Contract for every implementation:
 * - Caller: the image job (`build-queue/run-image-job.ts`), once per job attempt, after the mirror
 *   holds the SHA. It pushes afterwards; the builder never pushes.
 * - May it run twice? Yes, and it must be safe to: a retried job builds the same SHA again. The
 *   engine's layer cache makes the second build cheap; the tags simply move to the new image.
 * - What it leaves behind: on success, every name in `tags` on the engine points at the built image
 *   (labelled with `labels`), ready to push. On failure it throws an Error whose message names the
 *   failed step or the missing file, and leaves no session or context stream open. Nothing is
 *   checked out into a work tree either way.
 * - Event data never reaches argv: the request carries names and a SHA; build args are the
 *   pipeline file's, passed to the engine as build args.
 */
export interface ImageBuilder {
  readonly kind: ImageBuilderKind;
  build(request: ImageBuildRequest): Promise<ImageBuildResult>;
}

export type ImageBuilderKind = 'buildkit' | 'classic';

export interface ImageBuildRequest {
  /** The project's bare mirror; it already holds `sha`. */
  mirrorDir: string;
  sha: string;
  /** The build context: a directory of the repository (undefined: the root). */
  contextDir?: string;
  /** The Dockerfile, relative to the context (as `docker build -f`). */
  dockerfile: string;
  /** A generated Dockerfile (a built-in template) used instead of one from the repository. */
  dockerfileContent?: string;
  /** Names this source across builds (project and context), so a builder may keep files between builds. */
  sharedKey: string;
  /** Full references (`host/repo:tag`); the first is the one pushed first. */
  tags: string[];
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  /** Earlier images whose layers may serve this build, best first (the branch's, then the default branch's). */
  cacheCandidates: readonly string[];
  /** Credentials for the configured registry (base images and cache sources). */
  registryAuth?: RegistryAuth;
  onLog: (line: string) => void;
  timeoutMs: number;
}

export interface ImageBuildResult {
  imageId: string;
}
