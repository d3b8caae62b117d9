import { backoffDelay, sleep } from './backoff.js';
import { RegistryError } from './errors.js';
import { promoteImage, type PromoteOptions, type PromoteResult } from './promote.js';

export interface PromotionPolicy {
  /** Attempts of the whole copy (each attempt's requests also retry on their own, see http.ts). */
  attempts: number;
  /** First wait between attempts; doubled per attempt with jitter, at most 60 s. */
  backoffMs: number;
  /** Deadline of the whole promotion, waits included: requests in flight are aborted then. */
  timeoutMs: number;
}

/** A promotion that did not complete: the target may hold some blobs, never the manifest of a half copy. */
export class PromotionFailedError extends Error {
  override readonly name = 'PromotionFailedError';
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}

/**
 * promoteImage, retried as a whole with backoff while the failure may pass (5xx, 408, 429, network
 * errors, timeouts), within one deadline. A copy that fails part-way is safe to start again: blobs
 * already there are skipped, and the manifest is pushed only after all its blobs are in. Each failed
 * attempt is logged with the reason and the wait before the next.
 */
export async function promoteWithRetries(
  opts: PromoteOptions,
  policy: PromotionPolicy,
  log: (line: string) => void,
): Promise<{ result: PromoteResult; attempts: number }> {
  const deadline = Date.now() + policy.timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`promotion deadline of ${seconds(policy.timeoutMs)} passed`)), policy.timeoutMs);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await promoteImage({ ...opts, http: { ...opts.http, signal: controller.signal } });
        return { result, attempts: attempt };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const retryable = err instanceof RegistryError && err.retryable && !controller.signal.aborted;
        const wait = backoffDelay(attempt - 1, { retries: policy.attempts - 1, baseMs: policy.backoffMs, maxMs: 60_000 });
        const gaveUp = `gave up after ${attempt} promotion attempt${attempt === 1 ? '' : 's'}`;
        if (!retryable) throw new PromotionFailedError(`${message}; not retried (trying again cannot help)`, attempt);
        if (attempt >= policy.attempts) throw new PromotionFailedError(`${message}; ${gaveUp}`, attempt);
        if (Date.now() + wait >= deadline)
          throw new PromotionFailedError(`${message}; ${gaveUp}: the deadline of ${seconds(policy.timeoutMs)} leaves no time for another`, attempt);
        log(`promotion attempt ${attempt} of ${policy.attempts} failed: ${message}; trying again in ${seconds(wait)}`);
        await sleep(wait);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
