import type Dockerode from 'dockerode';
import { dockerMessage, dockerStatus, ImageNotFoundError } from './docker-errors.js';
import { followProgress } from './docker-progress.js';
import { withTimeout } from './with-timeout.js';

export type PullPolicy = 'missing' | 'never';

/**
 * Makes sure `image` exists on the engine. With 'missing' it is pulled once
 * when absent (like `docker run`); any failure becomes an ImageNotFoundError
 * naming the image, so the run record says which image, not "HTTP 404".
 */
export async function ensureImage(docker: Dockerode, image: string, opts: { policy: PullPolicy; apiTimeoutMs: number; pullTimeoutMs: number }): Promise<void> {
  try {
    await withTimeout(docker.getImage(image).inspect(), opts.apiTimeoutMs, `inspect image ${image}`);
    return;
  } catch (err) {
    if (dockerStatus(err) !== 404) throw err;
  }
  if (opts.policy === 'never') throw new ImageNotFoundError(image, 'not present on the engine and pull policy is never');
  const abort = new AbortController();
  try {
    const stream = await docker.pull(image, { abortSignal: abort.signal });
    await followProgress(docker, stream, { timeoutMs: opts.pullTimeoutMs, abort });
  } catch (err) {
    throw new ImageNotFoundError(image, `pull failed: ${dockerMessage(err)}`);
  }
}
