import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { mapLimit, uploadBlob } from '../registry/blob-copy.js';
import { type KnownLayer, knownLayers, rememberLayer } from '../registry/layer-index.js';
import { type Descriptor, dockerImageManifest } from '../registry/manifest.js';
import { DOCKER_LAYER_GZIP, DOCKER_MANIFEST } from '../registry/media-types.js';
import { RegistryClient } from '../registry/registry-client.js';
import type { RegistryAuth } from '../registry/registry-digest.js';
import { withTimeout } from '../executors/with-timeout.js';
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
  const dir = await mkdtemp(join(opts.tempRoot ?? tmpdir(), 'slipway-push-'));
  const deadline = Date.now() + opts.timeoutMs;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`the push deadline of ${opts.timeoutMs}ms passed`)), opts.timeoutMs);
  const client = new RegistryClient({
    registry,
    signal: controller.signal,
    ...(opts.auth ? { auth: { username: opts.auth.username, password: opts.auth.password } } : {}),
  });
  const result: LayerPushResult = { digest: '', uploaded: [], mounted: [], skipped: [], uploadedBytes: 0 };
  const remaining = (): number => Math.max(1, deadline - Date.now());
  try {
    type Placement = { layer: Descriptor } | { session: string | undefined };
    const placeKnown = async (diffId: string, candidate: KnownLayer | undefined): Promise<Placement> => {
      if (!candidate) return { session: undefined };
      const layer = { mediaType: DOCKER_LAYER_GZIP, digest: candidate.layer.digest, size: candidate.layer.size };
      if (await client.headBlob(repository, layer.digest)) {
        result.skipped.push(layer.digest);
        return { layer };
      }
      if (candidate.repository === repository) return { session: undefined };
      // Another repository of the registry has it (an image sharing a base): mount, as `docker push` does.
      const mount = await client.mountBlob(repository, layer.digest, candidate.repository);
      if (!mount.mounted) return { session: mount.uploadUrl };
      result.mounted.push(layer.digest);
      rememberLayer(client, repository, diffId, layer);
      return { layer };
    };
    // While the engine writes its tar (about a `docker save` of the whole image), find out which
    // layers the repository lacks: the engine's inspect names them by diff_id.
    const planned = withTimeout(docker.getImage(ref).inspect(), remaining(), `inspect ${ref}`).then(async (info) => {
      const diffIds = [...new Set(info.RootFS?.Layers ?? [])];
      const known = await knownLayers(client, repository, [...opts.tags, ...(opts.knownFrom ?? [])]);
      const decided = await mapLimit(diffIds, 4, (diffId) => placeKnown(diffId, known.get(diffId)));
      return new Map(diffIds.map((diffId, i) => [diffId, decided[i] as Placement]));
    });
    planned.catch(() => undefined); // awaited below; a failure must not surface before that as unhandled
    // One upload per distinct layer (an image may hold the same tar twice), `concurrency` at once.
    const uploads = new Map<string, Promise<Descriptor>>();
    const slot = limiter(opts.concurrency ?? 2);
    const upload = (diffId: string, range: LayerRange, session: string | undefined): Promise<Descriptor> => {
      let job = uploads.get(diffId);
      if (!job) {
        job = slot(() => compressAndUpload(diffId, range, session));
        job.catch(() => undefined); // awaited below
        uploads.set(diffId, job);
      }
      return job;
    };
    const compressAndUpload = async (diffId: string, range: LayerRange, session: string | undefined): Promise<Descriptor> => {
      const gz = join(dir, `layer-${uploads.size}-${diffId.slice(7, 19)}.gz`);
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
    const reading = Date.now();
    // A missing layer is compressed and uploaded as soon as it is on disk, while the rest of the tar still streams.
    const onFile = (digest: string, range: LayerRange): void => {
      planned.then(
        (plan) => {
          const placement = plan.get(digest);
          if (placement && 'session' in placement) void upload(digest, range, placement.session);
        },
        () => undefined,
      );
    };
    const image = await exportImage(docker, ref, { timeoutMs: remaining(), dir, onFile });
    opts.onLog(`read ${ref} from the engine in ${seconds(Date.now() - reading)} (${image.diffIds.length} layers)`);
    const plan = await planned;
    const layers = await Promise.all(
      image.diffIds.map((diffId, i) => {
        const placement = plan.get(diffId);
        if (placement && 'layer' in placement) return placement.layer;
        return upload(diffId, image.layers[i] as LayerRange, placement?.session);
      }),
    );
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
    // What a deploy will pull: the digest the registry now serves for the tag.
    const served = await client.headManifest(repository, first);
    if (served?.digest !== result.digest) throw new Error(`push ${ref}: pushed ${result.digest} but the registry serves ${served?.digest ?? 'nothing'}`);
    opts.onLog(
      `pushed ${repository}@${result.digest} as ${opts.tags.join(', ')}: ${result.uploaded.length} blobs uploaded (${mib(result.uploadedBytes)}), ${result.mounted.length} mounted, ${result.skipped.length} already there`,
    );
    return result;
  } catch (err) {
    controller.abort(); // uploads still running stop here
    throw new Error(`push ${ref} failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  }
}

/** At most `n` of the functions given run at once; the others wait their turn. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return async (fn) => {
    while (active >= n) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
