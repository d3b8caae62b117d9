import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  DOCKER_IMAGE_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_SCHEMA1,
  FOREIGN_LAYER_TYPES,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
} from './media-types.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

const descriptor = z.object({
  mediaType: z.string().optional(),
  digest: z.string().regex(DIGEST, 'digest must be sha256:<64 hex>'),
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
});
export type Descriptor = z.infer<typeof descriptor>;

// Only the fields promotion reads; the manifest bytes themselves are copied untouched.
const imageManifest = z.object({ config: descriptor, layers: z.array(descriptor) });
const indexManifest = z.object({ manifests: z.array(descriptor) });

export type ManifestContent = { kind: 'image'; config: Descriptor; layers: Descriptor[] } | { kind: 'index'; manifests: Descriptor[] };

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/**
 * What a manifest references. The media type comes from Content-Type (OCI
 * manifests need not repeat it in the body), falling back to the body's own.
 * Throws with a reason for schema 1 and anything malformed.
 */
export function parseManifest(bytes: Buffer, contentType: string | null): { mediaType: string; content: ManifestContent } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('manifest is not JSON');
  }
  const bodyType = typeof json === 'object' && json !== null ? (json as { mediaType?: unknown }).mediaType : undefined;
  const headerType = contentType?.split(';')[0]?.trim();
  const mediaType = headerType && headerType !== 'application/json' ? headerType : typeof bodyType === 'string' ? bodyType : '';
  if (mediaType === DOCKER_SCHEMA1 || (json as { schemaVersion?: unknown }).schemaVersion === 1) {
    throw new Error('schema 1 manifests are not supported (push the image again with a current Docker)');
  }
  if (INDEX_TYPES.includes(mediaType)) {
    const r = indexManifest.safeParse(json);
    if (!r.success) throw new Error(`invalid manifest list: ${r.error.issues[0]?.message ?? 'unknown'}`);
    return { mediaType, content: { kind: 'index', manifests: r.data.manifests } };
  }
  if (IMAGE_MANIFEST_TYPES.includes(mediaType)) {
    const r = imageManifest.safeParse(json);
    if (!r.success) throw new Error(`invalid image manifest: ${r.error.issues[0]?.message ?? 'unknown'}`);
    return { mediaType, content: { kind: 'image', config: r.data.config, layers: r.data.layers } };
  }
  throw new Error(`unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

/** Blobs an image manifest needs in the target: the config and every layer kept by the registry. */
export function blobsOf(content: Extract<ManifestContent, { kind: 'image' }>): Descriptor[] {
  const layers = content.layers.filter((l) => !FOREIGN_LAYER_TYPES.includes(l.mediaType ?? '') && !(l.urls && l.urls.length > 0));
  const seen = new Set<string>();
  return [content.config, ...layers].filter((d) => {
    if (seen.has(d.digest)) return false;
    seen.add(d.digest);
    return true;
  });
}

/**
 * A Docker image manifest v2 schema 2 (what `docker push` writes, and what every engine, containerd
 * and kubelet pulls) for a config blob and gzip layers, bottom first. Its digest is over exactly
 * these bytes, so they are PUT as returned.
 */
export function dockerImageManifest(config: Pick<Descriptor, 'digest' | 'size'>, layers: ReadonlyArray<Pick<Descriptor, 'digest' | 'size'>>): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: DOCKER_IMAGE_CONFIG, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: DOCKER_LAYER_GZIP, size: l.size, digest: l.digest })),
  };
  return Buffer.from(JSON.stringify(manifest, null, 3));
}
