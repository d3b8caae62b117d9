import { z } from 'zod';
import { RegistryError } from './errors.js';
import { type Descriptor, parseManifest } from './manifest.js';
import { DOCKER_LAYER_GZIP, OCI_LAYER_GZIP } from './media-types.js';
import type { RegistryClient } from './registry-client.js';

/** A layer blob in the registry that holds the uncompressed tar `diffId`. */
export type KnownLayers = Map<string, Descriptor>;

const configRootfs = z.object({ rootfs: z.object({ diff_ids: z.array(z.string()) }) });
const MAX_CONFIG_BYTES = 8 << 20;
// Per repository; an entry is only a hint (its blob is HEAD-checked before it is relied on).
const MAX_REMEMBERED = 4096;
const remembered = new Map<string, KnownLayers>();

/**
 * Which compressed blobs hold which uncompressed layers, for one repository: what this process
 * pushed there before, then what the images under `references` say (config `rootfs.diff_ids[i]` is
 * manifest `layers[i]`). A registry stores blobs by their compressed digest and an engine knows
 * layers by the uncompressed one, so this is what lets a push skip a layer without compressing it.
 * A reference that does not exist (a new branch) or is not a single gzip image adds nothing; other
 * failures are thrown.
 */
export async function knownLayers(client: RegistryClient, repository: string, references: readonly string[]): Promise<KnownLayers> {
  const known: KnownLayers = new Map(remembered.get(key(client, repository)));
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
      if (layer && isGzipLayer(layer) && !known.has(diffId)) known.set(diffId, layer);
    });
  }
  return known;
}

/** Notes a layer this process made present in the repository, for its next push there. */
export function rememberLayer(client: RegistryClient, repository: string, diffId: string, layer: Descriptor): void {
  const k = key(client, repository);
  const layers = remembered.get(k) ?? new Map<string, Descriptor>();
  layers.delete(diffId);
  layers.set(diffId, layer);
  if (layers.size > MAX_REMEMBERED) layers.delete(layers.keys().next().value as string);
  remembered.delete(k);
  remembered.set(k, layers);
  if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
}

function isGzipLayer(layer: Descriptor): boolean {
  return layer.mediaType === DOCKER_LAYER_GZIP || layer.mediaType === OCI_LAYER_GZIP;
}

function key(client: RegistryClient, repository: string): string {
  return `${client.registry}/${repository}`;
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
