import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from '../registry/backoff.js';
import { sha256Digest } from '../registry/manifest.js';
import { OCI_MANIFEST } from '../registry/media-types.js';
import { RegistryError, type RegistryClient } from '../registry/registry-client.js';
import type { CacheStore, LocalBlob } from './cache-store.js';

export type StoreKind = 'artifacts' | 'cache';

/**
 * OCI image manifests used for non-image content (image spec 1.1, "Guidelines for Artifact Usage"):
 * `artifactType` names what it is, the config has a media type of its own (not an image config, so
 * no runtime mistakes it for an image) and the one layer is the tar, whose digest is its sha256.
 */
export const STORE_TYPES: Record<StoreKind, { artifactType: string; config: string; layer: string }> = {
  artifacts: {
    artifactType: 'application/vnd.slipway.artifacts.v1+tar',
    config: 'application/vnd.slipway.artifacts.config.v1+json',
    layer: 'application/vnd.slipway.artifacts.layer.v1.tar',
  },
  cache: {
    artifactType: 'application/vnd.slipway.cache.v1+tar',
    config: 'application/vnd.slipway.cache.config.v1+json',
    layer: 'application/vnd.slipway.cache.layer.v1.tar',
  },
};

const descriptor = z.object({ mediaType: z.string(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/), size: z.number().int().nonnegative() });
const storeManifest = z.object({
  schemaVersion: z.literal(2),
  artifactType: z.string().optional(),
  config: descriptor,
  layers: z.array(descriptor).length(1, 'a Slipway store manifest has exactly one layer'),
});

/** Where one entry is: manifest digest (immutable) and the tag it was pushed under. */
export interface StoredEntry {
  repository: string;
  tag: string;
  /** Manifest digest: what later jobs fetch, so a re-pushed tag never changes what they get. */
  digest: string;
  blob: { digest: string; size: number };
}

export interface FetchedEntry {
  /** The local tar (this node's copy in front of the registry). */
  path: string;
  blob: { digest: string; size: number };
  /** true when the blob was already on this node (no download). */
  local: boolean;
}

/**
 * Artifacts and dependency caches as OCI artifacts in the registry every build node reaches,
 * with this node's CacheStore as a content-addressed copy in front of it. Pushes are idempotent
 * (a blob already present is not sent again; a manifest PUT by content), so a retried job changes
 * nothing the first try did not.
 */
export class RegistryStore {
  constructor(
    readonly client: RegistryClient,
    readonly local: CacheStore,
    /** Repository prefix: entries live in `<base>/<project id>/artifacts` and `<base>/<project id>/cache`. */
    readonly base: string,
  ) {}

  repository(projectId: number, kind: StoreKind): string {
    return `${this.base}/${projectId}/${kind}`;
  }

  /** `registry/repository:tag@digest`, as log lines and errors name an entry. */
  describe(entry: Pick<StoredEntry, 'repository' | 'tag'> & { digest?: string }): string {
    return `${this.client.registry}/${entry.repository}:${entry.tag}${entry.digest ? `@${entry.digest}` : ''}`;
  }

  async push(
    kind: StoreKind,
    repository: string,
    tag: string,
    blob: LocalBlob,
    meta: { config: Record<string, unknown>; annotations: Record<string, string> },
  ): Promise<StoredEntry> {
    const types = STORE_TYPES[kind];
    await this.ensureBlobFromFile(repository, blob);
    const config = Buffer.from(JSON.stringify(meta.config));
    const configDigest = sha256Digest(config);
    if (!(await this.client.headBlob(repository, configDigest))) await this.client.uploadBlob(repository, configDigest, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: types.artifactType,
        config: { mediaType: types.config, digest: configDigest, size: config.length },
        layers: [{ mediaType: types.layer, digest: blob.digest, size: blob.size }],
        annotations: meta.annotations,
      }),
    );
    const digest = await this.client.putManifest(repository, tag, { bytes: manifest, mediaType: OCI_MANIFEST });
    return { repository, tag, digest, blob: { digest: blob.digest, size: blob.size } };
  }

  /**
   * The entry's tar on this node: the manifest is always read from the registry (so a deleted or
   * expired entry is gone everywhere), the blob only when this node has no copy of that digest.
   */
  async fetch(kind: StoreKind, repository: string, reference: string): Promise<FetchedEntry> {
    const raw = await this.client.getManifest(repository, reference);
    const blob = layerOf(kind, raw.bytes);
    const have = await this.local.blobPath(blob.digest);
    if (have) return { path: have, blob, local: true };
    const body = await this.client.getBlob(repository, blob.digest);
    const got = await this.local.adoptDownload(blob.digest, blob.size, body);
    return { path: got.path, blob, local: false };
  }

  /** The manifest digest a tag points at now, or undefined when there is none. */
  async resolve(repository: string, tag: string): Promise<string | undefined> {
    return (await this.client.headManifest(repository, tag))?.digest;
  }

  /** Deletes one entry's manifest (and so its tag); false when it was already gone. */
  async remove(repository: string, digest: string): Promise<boolean> {
    return this.client.deleteManifest(repository, digest);
  }

  /** Sends the tar unless the repository has it; a streamed PUT cannot be replayed, so the whole upload is retried. */
  private async ensureBlobFromFile(repository: string, blob: LocalBlob): Promise<void> {
    if (await this.client.headBlob(repository, blob.digest)) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const url = await this.client.startUpload(repository);
        const body = Readable.toWeb(createReadStream(blob.path)) as ReadableStream<Uint8Array>;
        await this.client.putBlob(repository, url, blob.digest, body, blob.size);
        return;
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.retryable || attempt > DEFAULT_BACKOFF.retries) throw err;
        await sleep(backoffDelay(attempt - 1, DEFAULT_BACKOFF));
      }
    }
  }
}

/** The tar layer of a Slipway store manifest; anything else (an image pushed over the tag) is refused. */
export function layerOf(kind: StoreKind, bytes: Buffer): { digest: string; size: number } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('the manifest is not JSON');
  }
  const parsed = storeManifest.safeParse(json);
  if (!parsed.success) throw new Error(`not a Slipway ${kind} manifest: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  const { config, layers, artifactType } = parsed.data;
  const types = STORE_TYPES[kind];
  const layer = layers[0];
  if (artifactType !== types.artifactType || config.mediaType !== types.config || !layer || layer.mediaType !== types.layer) {
    throw new Error(`not a Slipway ${kind} manifest (artifactType ${JSON.stringify(artifactType ?? null)}, config ${JSON.stringify(config.mediaType)})`);
  }
  return { digest: layer.digest, size: layer.size };
}
