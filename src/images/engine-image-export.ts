import { type FileHandle, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { type Readable, Writable } from 'node:stream';
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
  /** The config exactly as stored by the engine: its sha256 is the image ID, so it is never re-serialised. */
  config: Buffer;
  configDigest: string;
  /** rootfs.diff_ids: the sha256 of each uncompressed layer tar, bottom first. */
  diffIds: string[];
  /** Where each uncompressed layer tar lies (a byte range of the saved archive), same order as diffIds. */
  layers: LayerRange[];
}

export interface ExportOptions {
  timeoutMs: number;
  /** A directory of the caller's, which removes it: the archive is written there as image.tar. */
  dir: string;
  /** Called for each file of the archive as soon as it is on disk, with the sha256 of its bytes (a layer's diff_id). */
  onFile?: (digest: string, range: LayerRange) => void;
}

// `docker save`'s manifest.json (Docker 1.10+; the OCI layout of Docker 25+ writes the same file).
const saveManifest = z.array(z.object({ Config: z.string().min(1), Layers: z.array(z.string().min(1)) })).min(1, 'manifest.json lists no image');
const imageConfig = z.object({ rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)) }) });

/**
 * Reads one image out of the engine (`GET /images/{name}/get`, the stream `docker save` writes):
 * the tar holds each layer's uncompressed tar, the config and manifest.json, which comes last and
 * says which file is which layer. So the stream is written to one file as it comes (one
 * sequential write), with the offset and sha256 of each member noted on the way
 * (`tar-index.ts`), and sorted out at the end; member names are never used as paths. A layer is
 * known by its sha256 as soon as it is on disk (`onFile`), so work on it need not wait for the end.
 * Bounded by `timeoutMs`.
 */
export async function exportImage(docker: Dockerode, ref: string, opts: ExportOptions): Promise<ExportedImage> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`reading image ${ref} from the engine timed out after ${opts.timeoutMs}ms`)), opts.timeoutMs);
  const archive = join(opts.dir, 'image.tar');
  const handle = await open(archive, 'w+');
  try {
    const request = docker.getImage(ref).get() as Promise<Readable>;
    // A stream that arrives after the deadline is closed, not left open.
    request.then(
      (s) => abort.signal.aborted && s.destroy(),
      () => undefined,
    );
    // The engine writes the whole tar to disk before the first byte, so the request itself is raced with the deadline.
    const source = await Promise.race([request, aborted(abort.signal)]);
    const sink = new FileSink(handle);
    const index = new TarIndexer((m) => {
      const onFile = opts.onFile;
      if (onFile && m.digest)
        void sink.whenWritten(m.offset + m.size).then(
          () => onFile(m.digest as string, { path: archive, offset: m.offset, size: m.size }),
          () => undefined,
        );
    });
    await pipeline(source, index, sink, { signal: abort.signal });
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
    const readMember = async (name: string): Promise<Buffer> => {
      const m = find(name);
      if (m.size > MAX_JSON_BYTES) throw new Error(`${name} in the engine's image tar is ${m.size} bytes, more than ${MAX_JSON_BYTES}`);
      const buf = Buffer.alloc(m.size);
      await handle.read(buf, 0, m.size, m.offset);
      return buf;
    };
    const listed = saveManifest.safeParse(JSON.parse((await readMember('manifest.json')).toString('utf8')));
    if (!listed.success) throw new Error(`the engine's manifest.json is not as expected: ${listed.error.issues[0]?.message ?? 'unknown'}`);
    const image = listed.data[0] as z.infer<typeof saveManifest>[number];
    const config = await readMember(image.Config);
    const parsed = imageConfig.safeParse(JSON.parse(config.toString('utf8')));
    if (!parsed.success) throw new Error(`the image config is not as expected: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    const diffIds = parsed.data.rootfs.diff_ids;
    if (diffIds.length !== image.Layers.length) {
      throw new Error(`the image config lists ${diffIds.length} layers but the engine's tar has ${image.Layers.length}`);
    }
    const layers = image.Layers.map((name, i) => {
      const m = find(name);
      if (m.digest !== diffIds[i]) throw new Error(`layer ${i + 1} of the engine's tar hashes to ${m.digest} but the config says ${diffIds[i]}`);
      return { path: archive, offset: m.offset, size: m.size };
    });
    return { config, configDigest: sha256Digest(config), diffIds, layers };
  } catch (err) {
    const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
    throw new Error(`reading image ${ref} from the engine failed: ${reason instanceof Error ? dockerMessage(reason) : String(reason)}`);
  } finally {
    clearTimeout(timer);
    await handle.close().catch(() => undefined);
  }
}

/** Writes a stream into an open file and says when a given offset is on disk (the file's page cache). */
class FileSink extends Writable {
  private written = 0;
  private readonly waiters: Array<{ offset: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(private readonly handle: FileHandle) {
    super({ highWaterMark: 4 << 20 });
  }

  whenWritten(offset: number): Promise<void> {
    if (this.written >= offset) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ offset, resolve, reject }));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    writeAll(this.handle, Buffer.concat(chunks.map((c) => c.chunk)), this.written).then(
      (bytesWritten) => {
        this.written += bytesWritten;
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i];
          if (w && w.offset <= this.written) {
            this.waiters.splice(i, 1);
            w.resolve();
          }
        }
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    for (const w of this.waiters.splice(0)) w.reject(err ?? new Error('the archive was not written to the end'));
    done(err);
  }
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<number> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
  return data.length;
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}
