import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Where one member of a tar lies in the archive: its data is `size` bytes from `offset`. */
export interface TarMember {
  name: string;
  type: 'file' | 'symlink' | 'other';
  /** A symlink's target, as written. */
  linkname: string;
  offset: number;
  size: number;
  /** sha256 of a file's data ("sha256:<hex>"): for a layer tar, its diff_id. */
  digest?: string;
}

const BLOCK = 512;

type Body =
  | { kind: 'file'; member: TarMember; hash: Hash; end: number }
  | { kind: 'pax' | 'longname'; chunks: Buffer[]; end: number }
  | { kind: 'skip'; end: number };

/**
 * Passes a tar stream through unchanged while noting where each member's data lies and hashing
 * each file's data, so the archive can be written to disk in one sequential write and its members
 * read back as byte ranges (cheaper than unpacking each into a file of its own: a layer tar is tens
 * of MiB). `onMember` is called as each file's last byte passes, so work on it can start before the
 * archive ends. Reads ustar and GNU headers, pax `path`/`size` records and GNU long names (what
 * Go's archive/tar writes).
 */
export class TarIndexer extends Transform {
  readonly members: TarMember[] = [];
  /** Offset of the next byte to arrive. */
  private pos = 0;
  /** Offset of the next header. */
  private next = 0;
  private header: Buffer = Buffer.alloc(0);
  private body: Body | undefined;
  /** What a pax or GNU long-name record said about the member after it. */
  private pending: { path?: string; size?: number } = {};
  private ended = false;

  constructor(private readonly onMember?: (member: TarMember) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.scan(chunk);
    } catch (err) {
      done(err as Error);
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.ended || this.members.length > 0 ? null : new Error('the stream is not a tar archive (no member found)'));
  }

  private scan(chunk: Buffer): void {
    const start = this.pos;
    const end = start + chunk.length;
    this.pos = end;
    let p = start;
    while (p < end && !this.ended) {
      const body = this.body;
      if (body && p < body.end) {
        const take = Math.min(end, body.end) - p;
        const slice = chunk.subarray(p - start, p - start + take);
        if (body.kind === 'file') body.hash.update(slice);
        else if (body.kind !== 'skip') body.chunks.push(Buffer.from(slice));
        p += take;
        if (p === body.end) this.finish(body);
        continue;
      }
      if (p < this.next) {
        p = Math.min(end, this.next); // padding to the next block
        continue;
      }
      // A header; it may straddle chunks, so its 512 bytes are gathered first.
      const piece = chunk.subarray(p - start, p - start + BLOCK - this.header.length);
      this.header = this.header.length === 0 && piece.length === BLOCK ? piece : Buffer.concat([this.header, piece]);
      p += piece.length;
      if (this.header.length < BLOCK) return;
      const header = this.header;
      this.header = Buffer.alloc(0);
      if (header.every((b) => b === 0)) {
        this.ended = true; // end-of-archive marker
        return;
      }
      this.member(header, this.next + BLOCK);
    }
  }

  private member(h: Buffer, dataStart: number): void {
    const typeflag = String.fromCharCode(h[156] ?? 0);
    const size = this.pending.size ?? readSize(h.subarray(124, 136));
    const end = dataStart + size;
    this.next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x' || typeflag === 'L') {
      this.body = { kind: typeflag === 'x' ? 'pax' : 'longname', chunks: [], end };
      if (size === 0) this.finish(this.body);
      return;
    }
    if (typeflag === 'g') {
      this.body = { kind: 'skip', end }; // global pax header: nothing docker save relies on
      return;
    }
    const magic = h.subarray(257, 262).toString('latin1');
    const prefix = magic === 'ustar' ? cString(h.subarray(345, 500)) : '';
    const plain = cString(h.subarray(0, 100));
    const name = this.pending.path ?? (prefix ? `${prefix}/${plain}` : plain);
    this.pending = {};
    const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '2' ? 'symlink' : 'other';
    const member: TarMember = { name, type, linkname: cString(h.subarray(157, 257)), offset: dataStart, size };
    if (type !== 'file') {
      this.members.push(member);
      this.body = { kind: 'skip', end };
      return;
    }
    this.body = { kind: 'file', member, hash: createHash('sha256'), end };
    if (size === 0) this.finish(this.body);
  }

  private finish(body: Body): void {
    this.body = undefined;
    if (body.kind === 'file') {
      body.member.digest = `sha256:${body.hash.digest('hex')}`;
      this.members.push(body.member);
      this.onMember?.(body.member);
      return;
    }
    if (body.kind === 'skip') return;
    const data = Buffer.concat(body.chunks);
    if (body.kind === 'longname') {
      this.pending.path = cString(data);
      return;
    }
    // pax records: "<len> key=value\n"
    for (let i = 0; i < data.length; ) {
      const space = data.indexOf(0x20, i);
      const len = Number(data.subarray(i, space).toString('latin1'));
      if (!(space > i && len > 0)) break;
      const record = data.subarray(space + 1, i + len - 1).toString('utf8');
      const eq = record.indexOf('=');
      const key = record.slice(0, eq);
      const value = record.slice(eq + 1);
      if (key === 'path') this.pending.path = value;
      if (key === 'size') this.pending.size = Number(value);
      i += len;
    }
  }
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8');
}

/** Octal, or GNU base-256 (high bit set) for sizes past 8 GiB. */
function readSize(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const text = cString(field).trim();
  return text ? Number.parseInt(text, 8) : 0;
}
