import { Transform, type TransformCallback } from 'node:stream';

/** Where one member of a tar lies in the archive: its data is `size` bytes from `offset`. */
export interface TarMember {
  name: string;
  type: 'file' | 'symlink' | 'other';
  /** A symlink's target, as written. */
  linkname: string;
  offset: number;
  size: number;
}

const BLOCK = 512;

/**
 * Passes a tar stream through unchanged while noting where each member's data lies, so the
 * archive can be written to disk in one sequential write and its members read back as byte ranges
 * (cheaper than unpacking each into a file of its own: a layer tar is tens of MiB). Reads ustar
 * and GNU headers, pax `path`/`size` records and GNU long names (what Go's archive/tar writes).
 */
export class TarIndexer extends Transform {
  readonly members: TarMember[] = [];
  /** Offset of the next byte to arrive. */
  private pos = 0;
  /** Offset of the next header. */
  private next = 0;
  private header: Buffer = Buffer.alloc(0);
  /** A pax or GNU long-name record being read (it describes the member after it). */
  private meta: { kind: 'pax' | 'longname'; size: number; start: number; chunks: Buffer[] } | undefined;
  private pending: { path?: string; size?: number } = {};
  private ended = false;

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
    if (this.meta) this.collectMeta(chunk, start, end);
    while (!this.ended && this.next < end) {
      // The header may straddle chunks: gather its 512 bytes first.
      const from = Math.max(this.next + this.header.length, start) - start;
      const need = BLOCK - this.header.length;
      const piece = chunk.subarray(from, from + need);
      this.header = this.header.length === 0 && piece.length === BLOCK ? piece : Buffer.concat([this.header, piece]);
      if (this.header.length < BLOCK) return;
      const header = this.header;
      this.header = Buffer.alloc(0);
      const dataStart = this.next + BLOCK;
      this.next = dataStart;
      if (header.every((b) => b === 0)) {
        this.ended = true; // end-of-archive marker
        return;
      }
      this.member(header, dataStart);
      if (this.meta && this.meta.start < end) this.collectMeta(chunk, start, end);
    }
  }

  private member(h: Buffer, dataStart: number): void {
    const typeflag = String.fromCharCode(h[156] ?? 0);
    const size = this.pending.size ?? readSize(h.subarray(124, 136));
    this.next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x' || typeflag === 'L') {
      this.meta = { kind: typeflag === 'x' ? 'pax' : 'longname', size, start: dataStart, chunks: [] };
      return;
    }
    if (typeflag === 'g') return; // global pax header: nothing docker save relies on
    const magic = h.subarray(257, 262).toString('latin1');
    const prefix = magic === 'ustar' ? cString(h.subarray(345, 500)) : '';
    const plain = cString(h.subarray(0, 100));
    const name = this.pending.path ?? (prefix ? `${prefix}/${plain}` : plain);
    const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '2' ? 'symlink' : 'other';
    this.members.push({ name, type, linkname: cString(h.subarray(157, 257)), offset: dataStart, size });
    this.pending = {};
  }

  private collectMeta(chunk: Buffer, start: number, end: number): void {
    const meta = this.meta;
    if (!meta) return;
    const have = meta.chunks.reduce((n, c) => n + c.length, 0);
    const from = meta.start + have;
    if (from >= end) return;
    const take = chunk.subarray(from - start, Math.min(chunk.length, from - start + meta.size - have));
    meta.chunks.push(Buffer.from(take));
    if (have + take.length < meta.size) return;
    const body = Buffer.concat(meta.chunks);
    this.meta = undefined;
    if (meta.kind === 'longname') {
      this.pending.path = cString(body);
      return;
    }
    // pax records: "<len> key=value\n"
    for (let i = 0; i < body.length; ) {
      const space = body.indexOf(0x20, i);
      const len = Number(body.subarray(i, space).toString('latin1'));
      if (!(space > i && len > 0)) break;
      const record = body.subarray(space + 1, i + len - 1).toString('utf8');
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
