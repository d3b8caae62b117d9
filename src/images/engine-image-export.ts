import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { extract } from 'tar-stream';
import { z } from 'zod';
import { dockerMessage } from '../executors/docker-errors.js';
import { sha256Digest } from '../registry/manifest.js';

/** One image as the engine holds it: the config's exact bytes and each layer's uncompressed tar, in rootfs order. */
export interface ExportedImage {
  /** The temp directory holding the layer files; a caller may put its own files beside them. */
  dir: string;
  /** The config exactly as stored by the engine: its sha256 is the image ID, so it is never re-serialised. */
  config: Buffer;
  configDigest: string;
  /** rootfs.diff_ids: the sha256 of each uncompressed layer tar, bottom first. */
  diffIds: string[];
  /** Paths of the uncompressed layer tars, same order as diffIds. */
  layerFiles: string[];
  /** Removes the temp directory holding the layer files. */
  remove(): Promise<void>;
}

// `docker save`'s manifest.json (Docker 1.10+; the OCI layout of Docker 25+ writes the same file).
const saveManifest = z.array(z.object({ Config: z.string().min(1), Layers: z.array(z.string().min(1)) })).min(1, 'manifest.json lists no image');
const imageConfig = z.object({ rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)) }) });

/**
 * Reads one image out of the engine (`GET /images/{name}/get`, the stream `docker save` writes):
 * the tar holds each layer's uncompressed tar, the config and manifest.json, which comes last and
 * says which file is which layer. So every file is spooled to a temp directory as it streams by
 * (entry names are never used as paths), and sorted out at the end. Bounded by `timeoutMs`; the
 * temp directory is removed on failure, and by `remove()` otherwise.
 */
export async function exportImage(docker: Dockerode, ref: string, opts: { timeoutMs: number; tempRoot?: string }): Promise<ExportedImage> {
  const dir = await mkdtemp(join(opts.tempRoot ?? tmpdir(), 'slipway-image-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`reading image ${ref} from the engine timed out after ${opts.timeoutMs}ms`)), opts.timeoutMs);
  try {
    const files = new Map<string, string>();
    const links = new Map<string, string>();
    // The engine writes the whole tar to disk before the first byte, so the request itself is raced with the deadline.
    const request = docker.getImage(ref).get() as Promise<Readable>;
    // A stream that arrives after the deadline is closed, not left open.
    request.then(
      (s) => abort.signal.aborted && s.destroy(),
      () => undefined,
    );
    const source = await Promise.race([request, aborted(abort.signal)]);
    const entries = extract();
    entries.on('entry', (header, body, next) => {
      const name = posix.normalize(header.name).replace(/^\.\//, '');
      if (header.type === 'file') {
        const path = join(dir, String(files.size));
        files.set(name, path);
        pipeline(body, createWriteStream(path)).then(() => next(), next);
        return;
      }
      // Docker 25+ links a layer seen twice to its first copy.
      if (header.type === 'symlink' && header.linkname) links.set(name, posix.join(posix.dirname(name), header.linkname));
      body.on('end', () => next());
      body.resume();
    });
    await pipeline(source, entries, { signal: abort.signal });
    const resolve = (name: string): string => {
      let n = posix.normalize(name);
      for (let hops = 0; links.has(n) && hops < 8; hops++) n = posix.normalize(links.get(n) ?? n);
      const path = files.get(n);
      if (!path) throw new Error(`the engine's image tar has no ${JSON.stringify(name)}`);
      return path;
    };
    const manifestPath = files.get('manifest.json');
    if (!manifestPath) throw new Error("the engine's image tar has no manifest.json");
    const listed = saveManifest.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
    if (!listed.success) throw new Error(`the engine's manifest.json is not as expected: ${listed.error.issues[0]?.message ?? 'unknown'}`);
    const image = listed.data[0] as z.infer<typeof saveManifest>[number];
    const config = await readFile(resolve(image.Config));
    const parsed = imageConfig.safeParse(JSON.parse(config.toString('utf8')));
    if (!parsed.success) throw new Error(`the image config is not as expected: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const diffIds = parsed.data.rootfs.diff_ids;
    if (diffIds.length !== image.Layers.length) {
      throw new Error(`the image config lists ${diffIds.length} layers but the engine's tar has ${image.Layers.length}`);
    }
    return { dir, config, configDigest: sha256Digest(config), diffIds, layerFiles: image.Layers.map(resolve), remove };
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
