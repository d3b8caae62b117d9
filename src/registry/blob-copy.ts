import { backoffDelay, DEFAULT_BACKOFF, sleep } from './backoff.js';
import { RegistryError } from './errors.js';
import type { Descriptor } from './manifest.js';
import type { RegistryClient } from './registry-client.js';

export type BlobOutcome = 'skipped' | 'mounted' | 'copied';

export interface BlobEnds {
  source: RegistryClient;
  sourceRepository: string;
  target: RegistryClient;
  targetRepository: string;
  /** Source and target are one registry: try a cross-repository mount before moving bytes. */
  sameRegistry: boolean;
}

/**
 * Makes `blob` present in the target repository, doing the least work:
 * nothing when HEAD finds it, a mount within one registry, else a stream
 * from the source GET straight into the target PUT (never buffered whole).
 * The streamed PUT cannot be replayed, so the whole copy is retried here.
 */
export async function ensureBlob(ends: BlobEnds, blob: Descriptor): Promise<BlobOutcome> {
  const { source, target } = ends;
  if (await target.headBlob(ends.targetRepository, blob.digest)) return 'skipped';
  let uploadUrl: string | undefined;
  if (ends.sameRegistry && ends.sourceRepository !== ends.targetRepository) {
    const mount = await target.mountBlob(ends.targetRepository, blob.digest, ends.sourceRepository);
    if (mount.mounted) return 'mounted';
    uploadUrl = mount.uploadUrl;
  }
  await uploadBlob(target, ends.targetRepository, blob, () => source.getBlob(ends.sourceRepository, blob.digest), uploadUrl);
  return 'copied';
}

/**
 * Uploads one blob (POST, then a monolithic PUT with the digest, which the registry checks) from a
 * body that `open` makes anew for every attempt: a streamed PUT cannot be replayed, so the whole
 * upload is retried here, with backoff, while the failure may pass. `uploadUrl` is an upload
 * session already open (a declined mount's), used by the first attempt only.
 */
export async function uploadBlob(
  target: RegistryClient,
  repository: string,
  blob: Pick<Descriptor, 'digest' | 'size'>,
  open: () => Promise<ReadableStream<Uint8Array>>,
  uploadUrl?: string,
): Promise<void> {
  let session = uploadUrl;
  for (let attempt = 1; ; attempt++) {
    try {
      const url = session ?? (await target.startUpload(repository));
      session = undefined; // a failed session is not reused
      await target.putBlob(repository, url, blob.digest, await open(), blob.size);
      return;
    } catch (err) {
      if (!(err instanceof RegistryError) || !err.retryable || attempt > DEFAULT_BACKOFF.retries) throw err;
      await sleep(backoffDelay(attempt - 1, DEFAULT_BACKOFF));
    }
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure wins. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
