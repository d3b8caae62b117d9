import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { z } from 'zod';
import { dockerMessage } from '../executors/docker-errors.js';
import { sha256Digest } from '../registry/manifest.js';
import { type TarMember, TarIndexer } from './tar-index.js';

export interface LayerRange {
  path: string;
  offset: number;
  size: number;
}

const MAX_JSON_BYTES = 16 << 20;

/** One image as the engine holds it: the config's exact bytes and each layer's uncompressed tar, in rootfs order. */
export interface ExportedImage {
  /** The temp directory holding the layer files; a caller may put its own files beside them. */
  dir: string;
  /** The config exactly as stored by the engine: its sha256 is the image ID, so it is never re-serialised. */
  config: Buffer;
  configDigest: string;
  /** rootfs.diff_ids: the sha256 of each uncompressed layer tar, bottom first. */
  diffIds: string[];
  /** Where each uncompressed layer tar lies (a byte range of the saved archive), same order as diffIds. */
  layers: LayerRange[];
  /** Removes the temp directory holding the layer files. */
  remove(): Promise<void>;
}

// `docker save`'s manifest.json (Docker 1.10+; the OCI layout of Docker 25+ writes the same file).
const saveManifest = z.array(z.object({ Config: z.string().min(1), Layers: z.array(z.string().min(1)) })).min(1, 'manifest.json lists no image');
const imageConfig = z.object({ rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)) }) });

/**
 * Reads one image out of the engine (`GET /images/{name}/get`, the stream `docker save` writes):
 * the tar holds each layer's uncompressed tar, the config and manifest.json, which comes last and
 * says which file is which layer. So the stream is written to a temp file as it comes (one
 * sequential write), with the offset of each member noted on the way, and sorted out at the end
 * (member names are never used as paths). Bounded by `timeoutMs`; the
 * temp directory is removed on failure, and by `remove()` otherwise.
 */
export async function exportImage(docker: Dockerode, ref: string, opts: { timeoutMs: number; tempRoot?: string }): Promise<ExportedImage> {
  const dir = await mkdtemp(join(opts.tempRoot ?? tmpdir(), 'slipway-image-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`reading image ${ref} from the engine timed out after ${opts.timeoutMs}ms`)), opts.timeoutMs);
  try {
    const archive = join(dir, 'image.tar');
    const request = docker.getImage(ref).get() as Promise<Readable>;
    // A stream that arrives after the deadline is closed, not left open.
    request.then(
      (s) => abort.signal.aborted && s.destroy(),
      () => undefined,
    );
    // The engine writes the whole tar to disk before the first byte, so the request itself is raced with the deadline.
    const source = await Promise.race([request, aborted(abort.signal)]);
    const index = new TarIndexer();
    await pipeline(source, index, createWriteStream(archive), { signal: abort.signal });
    const byName = new Map(index.members.map((m) => [posix.normalize(m.name).replace(/^\.\//, ''), m]));
    const find = (name: string): TarMember => {
      let n = posix.normalize(name);
      // Docker 25+ links a layer seen twice to its first copy.
      for (let hops = 0; byName.get(n)?.type === 'symlink' && hops < 8; hops++) {
        const link = byName.get(n) as TarMember;
        n = posix.normalize(posix.join(posix.dirname(n), link.linkname));
      }
      const member = byName.get(n);
      if (member?.type !== 'file') throw new Error(`the engine's image tar has no file ${JSON.stringify(name)}`);
      return member;
    };
    const readMember = async (name: string, limit: number): Promise<Buffer> => {
      const m = find(name);
      if (m.size > limit) throw new Error(`${name} in the engine's image tar is ${m.size} bytes, more than ${limit}`);
      const handle = await open(archive, 'r');
      try {
        const buf = Buffer.alloc(m.size);
        await handle.read(buf, 0, m.size, m.offset);
        return buf;
      } finally {
        await handle.close();
      }
    };
    const listed = saveManifest.safeParse(JSON.parse((await readMember('manifest.json', MAX_JSON_BYTES)).toString('utf8')));
    if (!listed.success) throw new Error(`the engine's manifest.json is not as expected: ${listed.error.issues[0]?.message ?? 'unknown'}`);
    const image = listed.data[0] as z.infer<typeof saveManifest>[number];
    const config = await readMember(image.Config, MAX_JSON_BYTES);
    const parsed = imageConfig.safeParse(JSON.parse(config.toString('utf8')));
    if (!parsed.success) throw new Error(`the image config is not as expected: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const diffIds = parsed.data.rootfs.diff_ids;
    if (diffIds.length !== image.Layers.length) {
      throw new Error(`the image config lists ${diffIds.length} layers but the engine's tar has ${image.Layers.length}`);
    }
    const layers = image.Layers.map((name) => {
      const m = find(name);
      return { path: archive, offset: m.offset, size: m.size };
    });
    return { dir, config, configDigest: sha256Digest(config), diffIds, layers, remove };
  } catch (err) {
    await remove();
    const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
    throw new Error(`reading image ${ref} from the engine failed: ${reason instanceof Error ? dockerMessage(reason) : String(reason)}`);
  } finally {
    clearTimeout(timer);
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}
