import type { Credentials } from './auth.js';
import { ensureBlob, mapLimit, type BlobEnds } from './blob-copy.js';
import { blobsOf, parseManifest } from './manifest.js';
import { RegistryClient, type RawManifest } from './registry-client.js';
import type { RegistryHttpOptions } from './http.js';

export interface PromoteOptions {
  from: { registry: string; repository: string; reference: string; auth?: Credentials };
  to: { registry: string; repository: string; tag: string; auth?: Credentials };
  /** Timeouts, backoff and scheme for both registries. */
  http?: Omit<RegistryHttpOptions, 'registry' | 'auth'>;
  /** Blobs moved at once. Default 3. */
  concurrency?: number;
  onLog?: (line: string) => void;
}

export interface PromoteResult {
  /** The manifest digest, identical in both registries (verified). */
  digest: string;
  mediaType: string;
  copiedBlobs: string[];
  skippedBlobs: string[];
  mountedBlobs: string[];
  copiedBytes: number;
}

/**
 * Copies an image (or a multi-platform index with its images) from one
 * registry to another, or within one: the manifest bytes unchanged, only the
 * blobs the target lacks (HEAD), mounted instead of copied within one
 * registry, then checks that the target tag serves the source's digest.
 * Running it again copies nothing and gives the same digest.
 */
export async function promoteImage(opts: PromoteOptions): Promise<PromoteResult> {
  const source = new RegistryClient({ ...opts.http, registry: opts.from.registry, ...(opts.from.auth ? { auth: opts.from.auth } : {}) });
  const sameRegistry = normalizeHost(opts.from.registry) === normalizeHost(opts.to.registry);
  // Within one registry the target's credentials do the mount, so they must be able to pull the source too.
  const target = new RegistryClient({ ...opts.http, registry: opts.to.registry, ...(opts.to.auth ? { auth: opts.to.auth } : {}) });
  const ends: BlobEnds = { source, sourceRepository: opts.from.repository, target, targetRepository: opts.to.repository, sameRegistry };
  const result: PromoteResult = { digest: '', mediaType: '', copiedBlobs: [], skippedBlobs: [], mountedBlobs: [], copiedBytes: 0 };
  const log = opts.onLog ?? (() => undefined);

  const top = await source.getManifest(opts.from.repository, opts.from.reference);
  await copyManifestTree(ends, top, opts.to.tag, result, opts.concurrency ?? 3, log);
  result.digest = top.digest;

  const served = await target.headManifest(opts.to.repository, opts.to.tag);
  if (served?.digest !== top.digest) {
    throw new Error(
      `promotion ${opts.from.registry}/${opts.from.repository}:${opts.from.reference} → ${opts.to.registry}/${opts.to.repository}:${opts.to.tag}: ` +
        `target serves ${served?.digest ?? 'nothing'} instead of ${top.digest}`,
    );
  }
  log(
    `promoted ${top.digest}: ${result.copiedBlobs.length} blobs copied (${result.copiedBytes} bytes), ${result.mountedBlobs.length} mounted, ${result.skippedBlobs.length} already there`,
  );
  return result;
}

/** Children before parents: a registry may refuse a manifest whose blobs or child manifests are missing. */
async function copyManifestTree(
  ends: BlobEnds,
  manifest: RawManifest,
  reference: string,
  result: PromoteResult,
  concurrency: number,
  log: (l: string) => void,
): Promise<void> {
  const { mediaType, content } = parseManifest(manifest.bytes, manifest.mediaType);
  if (!result.mediaType) result.mediaType = mediaType;
  if (content.kind === 'index') {
    for (const child of content.manifests) {
      const childManifest = await ends.source.getManifest(ends.sourceRepository, child.digest);
      await copyManifestTree(ends, childManifest, child.digest, result, concurrency, log);
    }
  } else {
    await mapLimit(blobsOf(content), concurrency, async (blob) => {
      const outcome = await ensureBlob(ends, blob);
      if (outcome === 'skipped') result.skippedBlobs.push(blob.digest);
      else if (outcome === 'mounted') result.mountedBlobs.push(blob.digest);
      else {
        result.copiedBlobs.push(blob.digest);
        result.copiedBytes += blob.size;
        log(`copied blob ${blob.digest} (${blob.size} bytes)`);
      }
    });
  }
  const stored = await ends.target.putManifest(ends.targetRepository, reference, { bytes: manifest.bytes, mediaType });
  if (stored !== manifest.digest) throw new Error(`target stored manifest ${stored} for ${manifest.digest}: it was changed on the way`);
}

function normalizeHost(registry: string): string {
  return registry
    .toLowerCase()
    .replace(/^localhost(?=:|$)/, '127.0.0.1')
    .replace(/:443$/, '');
}
