import { z } from 'zod';
import { RegistryError } from './errors.js';
import { type Descriptor, parseManifest } from './manifest.js';
import { DOCKER_LAYER_GZIP, OCI_LAYER_GZIP } from './media-types.js';
import type { RegistryClient } from './registry-client.js';

/** A layer blob that holds the uncompressed tar `diffId`, and a repository of the registry that has it. */
export interface KnownLayer {
  layer: Descriptor;
  repository: string;
}
export type KnownLayers = Map<string, KnownLayer>;

const configRootfs = z.object({ rootfs: z.object({ diff_ids: z.array(z.string()) }) });
const MAX_CONFIG_BYTES = 8 << 20;
// Per registry, least recently pushed first out; an entry is only a hint (its blob is checked
// with HEAD, or mounted, before it is relied on).
const MAX_REMEMBERED = 4096;
const remembered = new Map<string, KnownLayers>();

/**
 * Which compressed blobs hold which uncompressed layers: what the images under `references` in
 * `repository` say (config `rootfs.diff_ids[i]` is manifest `layers[i]`), then what this process
 * pushed to any repository of the registry (a layer shared with another project's image is
 * mounted from there, as the engine's own push does). A registry stores blobs by their compressed
 * digest and an engine knows layers by the uncompressed one, so this is what lets a push skip a
 * layer without compressing it.
 * A reference that does not exist (a new branch) or is not a single gzip image adds nothing; other
 * failures are thrown.
 */
export async function knownLayers(client: RegistryClient, repository: string, references: readonly string[]): Promise<KnownLayers> {
  const known: KnownLayers = new Map();
  for (const reference of new Set(references)) {
    const head = await client.headManifest(repository, reference);
    if (!head) continue;
    const raw = await client.getManifest(repository, head.digest);
    const { content } = parseManifest(raw.bytes, raw.mediaType);
    if (content.kind !== 'image') continue;
    if (content.config.size > MAX_CONFIG_BYTES) continue;
    const config = configRootfs.safeParse(await readJson(client, repository, content.config.digest));
    if (!config.success || config.data.rootfs.diff_ids.length !== content.layers.length) continue;
    config.data.rootfs.diff_ids.forEach((diffId, i) => {
      const layer = content.layers[i];
      if (layer && isGzipLayer(layer) && !known.has(diffId)) known.set(diffId, { layer, repository });
    });
  }
  // What this process pushed here comes first: the next push of the branch finds it without a lookup.
  for (const [diffId, entry] of remembered.get(client.registry) ?? []) {
    if (entry.repository === repository || !known.has(diffId)) known.set(diffId, entry);
  }
  return known;
}

/** Notes a layer this process made present in a repository, for its next pushes to the registry. */
export function rememberLayer(client: RegistryClient, repository: string, diffId: string, layer: Descriptor): void {
  const layers = remembered.get(client.registry) ?? new Map<string, KnownLayer>();
  layers.delete(diffId);
  layers.set(diffId, { layer, repository });
  if (layers.size > MAX_REMEMBERED) layers.delete(layers.keys().next().value as string);
  remembered.set(client.registry, layers);
}

function isGzipLayer(layer: Descriptor): boolean {
  return layer.mediaType === DOCKER_LAYER_GZIP || layer.mediaType === OCI_LAYER_GZIP;
}

async function readJson(client: RegistryClient, repository: string, digest: string): Promise<unknown> {
  const body = await client.getBlob(repository, digest);
  const text = await new Response(body).text();
  try {
    return JSON.parse(text);
  } catch {
    throw new RegistryError({
      registry: client.registry,
      call: `GET blob ${repository}@${digest}`,
      status: 200,
      retryable: false,
      attempts: 1,
      detail: 'the image config is not JSON',
    });
  }
}
