import type Dockerode from 'dockerode';
import { createBuildKitBuilder } from '../buildkit/builder.js';
import { createClassicBuilder } from '../images/classic-builder.js';
import type { ImageBuilder, ImageBuilderKind } from '../images/image-builder.js';

/**
 * The one place that picks the image builder (`SLIPWAY_IMAGE_BUILDER`): the build role calls it
 * once when it is wired, and image jobs only ever see the `ImageBuilder` seam.
 */
export function createImageBuilder(kind: ImageBuilderKind, deps: { docker: Dockerode; registry: string }): ImageBuilder {
  switch (kind) {
    case 'buildkit':
      return createBuildKitBuilder(deps.docker, { registry: deps.registry });
    case 'classic':
      return createClassicBuilder(deps.docker);
  }
}
