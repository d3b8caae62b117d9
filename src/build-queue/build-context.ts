import type { ImageBuilder } from '../images/image-builder.js';
import type { JobContext } from '../jobs/context.js';

/** What a build-queue job gets: the shared job context plus the image builder the build role chose. */
export interface BuildContext extends JobContext {
  imageBuilder: ImageBuilder;
}
