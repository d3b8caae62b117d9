import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { mapLimit, uploadBlob } from '../registry/blob-copy.js';
import { knownLayers, rememberLayer } from '../registry/layer-index.js';
import { type Descriptor, dockerImageManifest } from '../registry/manifest.js';
import { DOCKER_LAYER_GZIP, DOCKER_MANIFEST } from '../registry/media-types.js';
import { RegistryClient } from '../registry/registry-client.js';
import type { RegistryAuth } from '../registry/registry-digest.js';
import { exportImage, type LayerRange } from './engine-image-export.js';
import { compressLayer } from './layer-compress.js';
import { splitImage } from './image-push.js';

export interface LayerPushOptions {
  /** 'host:port/repo' — the registry host is required (no implicit Docker Hub). */
  image: string;
  /** Every tag to push, each already on the engine as image:tag for the same image; the first is read. */
  tags: readonly string[];
  /** Other tags of the repository whose layers may already be there (the branch's last image). */
  knownFrom?: readonly string[];
  auth?: RegistryAuth;
  onLog: (line: string) => void;
  /** Deadline of the whole push: the engine read, compression, every registry call. */
  timeoutMs: number;
  /** Layers compressed and uploaded at once. Default 2. */
  concurrency?: number;
  /** Where the layer tars are spooled (default the OS temp dir). */
  tempRoot?: string;
}

export interface LayerPushResult {
  /** The manifest digest the registry serves for every tag (verified). */
  digest: string;
  /** Blob digests uploaded by this push (new layers, the config), mounted from another repository, and already there. */
  uploaded: string[];
  mounted: string[];
  skipped: string[];
  uploadedBytes: number;
}

/**
 * Slipway's own push (docs/decisions.md): the image is read out of the engine (`docker save`'s
 * stream), each layer the repository does not already hold is gzipped at level 1 and uploaded
 * (several at once), then the Docker v2 schema 2 manifest is PUT under every tag and the digest
 * the registry serves is checked. A layer is known to be there by its uncompressed digest, through
 * the repository's earlier images (`knownFrom`, the tags themselves) and what this process pushed,
 * each confirmed with a blob HEAD (or mounted from the registry's repository that has it). Repeating a push uploads nothing and gives the same digest.
 */
export async function pushImageLayers(docker: Dockerode, opts: LayerPushOptions): Promise<LayerPushResult> {
  const { registry, repository } = splitImage(opts.image);
  const [first] = opts.tags;
  if (!first) throw new Error(`push ${opts.image}: no tag to push`);
  const ref = `${opts.image}:${first}`;
  const deadline = Date.now() + opts.timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`the push deadline of ${opts.timeoutMs}ms passed`)), opts.timeoutMs);
  const client = new RegistryClient({
    registry,
    signal: controller.signal,
    ...(opts.auth ? { auth: { username: opts.auth.username, password: opts.auth.password } } : {}),
  });
  const result: LayerPushResult = { digest: '', uploaded: [], mounted: [], skipped: [], uploadedBytes: 0 };
  try {
    const reading = Date.now();
    const image = await exportImage(docker, ref, { timeoutMs: Math.max(1, deadline - Date.now()), ...(opts.tempRoot ? { tempRoot: opts.tempRoot } : {}) });
    opts.onLog(`read ${ref} from the engine in ${seconds(Date.now() - reading)} (${image.diffIds.length} layers)`);
    try {
      const known = await knownLayers(client, repository, [...opts.tags, ...(opts.knownFrom ?? [])]);
      // One job per distinct layer: an image may hold the same tar twice.
      const jobs = new Map<string, Promise<Descriptor>>();
      const layerOf = (diffId: string, i: number): Promise<Descriptor> => {
        let job = jobs.get(diffId);
        if (!job) {
          job = placeLayer(diffId, image.layers[i] as LayerRange, join(image.dir, `layer-${i}.gz`));
          jobs.set(diffId, job);
        }
        return job;
      };
      const placeLayer = async (diffId: string, range: LayerRange, gz: string): Promise<Descriptor> => {
        const candidate = known.get(diffId);
        let session: string | undefined;
        if (candidate) {
          const { layer, repository: from } = candidate;
          const reused = { mediaType: DOCKER_LAYER_GZIP, digest: layer.digest, size: layer.size };
          if (await client.headBlob(repository, layer.digest)) {
            result.skipped.push(layer.digest);
            return reused;
          }
          if (from !== repository) {
            // Another repository of the registry has it (an image sharing a base): mount, as `docker push` does.
            const mount = await client.mountBlob(repository, layer.digest, from);
            if (mount.mounted) {
              result.mounted.push(layer.digest);
              rememberLayer(client, repository, diffId, reused);
              return reused;
            }
            session = mount.uploadUrl;
          }
        }
        const started = Date.now();
        const blob = await compressLayer(range, gz, diffId, controller.signal);
        const compressedMs = Date.now() - started;
        await uploadBlob(client, repository, blob, async () => Readable.toWeb(createReadStream(gz)) as ReadableStream<Uint8Array>, session);
        const layer = { mediaType: DOCKER_LAYER_GZIP, ...blob };
        rememberLayer(client, repository, diffId, layer);
        result.uploaded.push(blob.digest);
        result.uploadedBytes += blob.size;
        opts.onLog(
          `pushed layer ${blob.digest} (${mib(blob.size)} gzip, compressed in ${seconds(compressedMs)}, uploaded in ${seconds(Date.now() - started - compressedMs)})`,
        );
        return layer;
      };
      const indexes = image.diffIds.map((_, i) => i);
      const layers = await mapLimit(indexes, opts.concurrency ?? 2, (i) => layerOf(image.diffIds[i] as string, i));
      const config = { digest: image.configDigest, size: image.config.length };
      if (await client.headBlob(repository, config.digest)) result.skipped.push(config.digest);
      else {
        await client.uploadBlob(repository, config.digest, image.config);
        result.uploaded.push(config.digest);
        result.uploadedBytes += config.size;
      }
      const manifest = { bytes: dockerImageManifest(config, layers), mediaType: DOCKER_MANIFEST };
      for (const tag of opts.tags) {
        const stored = await client.putManifest(repository, tag, manifest);
        result.digest ||= stored;
        if (stored !== result.digest) throw new Error(`push ${opts.image}:${tag}: the registry stored ${stored}, not ${result.digest}`);
      }
    } finally {
      await image.remove();
    }
    // What a deploy will pull: the digest the registry now serves for the tag.
    const served = await client.headManifest(repository, first);
    if (served?.digest !== result.digest) throw new Error(`push ${ref}: pushed ${result.digest} but the registry serves ${served?.digest ?? 'nothing'}`);
    opts.onLog(
      `pushed ${repository}@${result.digest} as ${opts.tags.join(', ')}: ${result.uploaded.length} blobs uploaded (${mib(result.uploadedBytes)}), ${result.mounted.length} mounted, ${result.skipped.length} already there`,
    );
    return result;
  } catch (err) {
    throw new Error(`push ${ref} failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
