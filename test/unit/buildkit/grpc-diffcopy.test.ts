import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendTree, type SyncStats } from '../../../src/buildkit/diffcopy.js';
import { BlobReader, listTree, mtimeOf, type TreeEntry } from '../../../src/buildkit/git-tree.js';
import type { GrpcHandler } from '../../../src/buildkit/grpc-server.js';
import { HEALTH_SERVING, PacketType, decodePacket, encodePacket, type Packet } from '../../../src/buildkit/messages.js';
import { startSessionPair, TestCall, type SessionPair } from './grpc-client.js';
import { bytes, makeRepo, type TestRepo } from './repo.js';

const DIFFCOPY = '/moby.filesync.v1.FileSync/DiffCopy';
const HEALTH = '/grpc.health.v1.Health/Check';
const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;
const BASE_NS = 946_684_800n * 1_000_000_000n;
const GRPC_GO_MAX_MESSAGE = 4 * 1024 * 1024; // the engine's default receive limit

// Larger than grpc-go's message limit: it can only arrive in several DATA packets.
const big = bytes(5 * 1024 * 1024 + 3);
const files = { Dockerfile: 'FROM scratch\nCOPY . /\n', 'src/app.ts': 'export {};\n', 'src/big.bin': big, 'z.txt': 'last\n' };

const dockerfile = Buffer.from('FROM node:20\nCOPY . /app\n');
const generated: TreeEntry[] = [{ path: 'Dockerfile', kind: 'file', gitMode: '100644', size: dockerfile.length, content: dockerfile }];

let repo: TestRepo;
let blobs: BlobReader;
let entries: TreeEntry[];
let pair: SessionPair;
const syncs: SyncStats[] = [];

const handlers: Record<string, GrpcHandler> = {
  [HEALTH]: async (call) => call.send(HEALTH_SERVING), // as build.ts serves it
  // Two local sources, as build.ts has them: the commit's tree and a generated Dockerfile held in memory.
  [DIFFCOPY]: async (call) => void syncs.push(await sendTree(call, call.metadata.get('dir-name')?.[0] === 'dockerfile' ? generated : entries, blobs)),
  // Echoes the request metadata back, one JSON message.
  '/test.Echo/Metadata': async (call) => call.send(Buffer.from(JSON.stringify(Object.fromEntries(call.metadata)))),
  '/test.Fail/Throw': async () => {
    throw new Error('no local source named "ctx" — 100% unknown\nsecond line');
  },
};

beforeAll(async () => {
  repo = makeRepo({ ...files, link: { symlink: 'z.txt' } });
  blobs = new BlobReader(repo.gitDir);
  entries = await listTree({ mirrorDir: repo.gitDir, sha: repo.sha, blobs });
  pair = await startSessionPair(handlers);
});

afterAll(async () => {
  await pair?.close();
  blobs?.close();
  repo?.cleanup();
});

/** The listing: STAT packets up to the empty STAT that ends it (a STAT without a stat, as Go sends it). */
async function statsUntilEnd(call: TestCall): Promise<Packet[]> {
  const out: Packet[] = [];
  for (;;) {
    const raw = await call.next();
    if (raw === undefined) throw new Error('the call ended during the listing');
    const p = decodePacket(raw);
    expect(p.type).toBe(PacketType.STAT);
    if (!p.stat) return out;
    out.push(p);
  }
}

/** Sends REQ for `ids`, then collects DATA packets until each file has ended with an empty DATA. */
async function fetchFiles(call: TestCall, ids: readonly number[]): Promise<Map<number, Buffer[]>> {
  for (const id of ids) call.send(encodePacket({ type: PacketType.REQ, id }));
  const received = new Map<number, Buffer[]>(ids.map((id) => [id, []]));
  let finished = 0;
  while (finished < ids.length) {
    const raw = await call.next();
    if (raw === undefined) throw new Error('the call ended while files were being sent');
    expect(raw.length).toBeLessThan(GRPC_GO_MAX_MESSAGE);
    const p = decodePacket(raw);
    expect(p.type).toBe(PacketType.DATA);
    const parts = received.get(p.id ?? -1);
    if (!parts) throw new Error(`DATA for file #${p.id} that was not requested`);
    if ((p.data?.length ?? 0) === 0)
      finished += 1; // an empty DATA ends a file
    else parts.push(Buffer.from(p.data ?? []));
  }
  return received;
}

/** The receiver's FIN is answered with FIN, then the call ends with status OK. */
async function finish(call: TestCall): Promise<void> {
  call.send(encodePacket({ type: PacketType.FIN }));
  const fin = await call.next();
  expect(fin && decodePacket(fin).type).toBe(PacketType.FIN);
  call.end();
  expect(await call.rest()).toEqual([]);
  expect((await call.done).trailers['grpc-status']).toBe('0');
}

describe('gRPC over a session we serve', () => {
  it('answers an unknown method with UNIMPLEMENTED', async () => {
    const call = new TestCall(pair.client, '/moby.filesync.v1.FileSend/DiffCopy');
    call.end();
    const { headers } = await call.done;
    // Trailers-only response: the status travels in the headers.
    expect(headers['grpc-status']).toBe('12');
  });

  it('answers the health check with SERVING', async () => {
    const call = new TestCall(pair.client, HEALTH);
    call.send(new Uint8Array()); // HealthCheckRequest{service: ""}
    call.end();
    expect((await call.rest()).map((m) => Buffer.from(m).toString('hex'))).toEqual(['0801']);
    expect((await call.done).trailers['grpc-status']).toBe('0');
  });

  it('keeps every value of a repeated metadata key', async () => {
    const call = new TestCall(pair.client, '/test.Echo/Metadata', { 'dir-name': 'context', 'include-patterns': ['Dockerfile', '.dockerignore'] });
    call.end();
    const [reply] = await call.rest();
    const metadata = JSON.parse(Buffer.from(reply ?? []).toString()) as Record<string, string[]>;
    expect(metadata['dir-name']).toEqual(['context']);
    expect(metadata['include-patterns']).toEqual(['Dockerfile', '.dockerignore']);
    expect(Object.keys(metadata).some((k) => k.startsWith(':'))).toBe(false);
  });

  it('ends a failing handler with UNKNOWN and its message, percent-encoded', async () => {
    const call = new TestCall(pair.client, '/test.Fail/Throw');
    call.end();
    const { trailers } = await call.done;
    expect(trailers['grpc-status']).toBe('2');
    const raw = String(trailers['grpc-message']);
    expect(raw).toMatch(/^[\x20-\x7e]*$/); // a header value: printable ASCII only
    expect(decodeURIComponent(raw)).toBe('no local source named "ctx" — 100% unknown\nsecond line');
  });
});

describe('DiffCopy (the receiver played as fsutil does it)', () => {
  it('lists the tree, sends only the requested files and finishes with FIN', async () => {
    const call = new TestCall(pair.client, DIFFCOPY, { 'dir-name': 'context' });
    const listing = await statsUntilEnd(call);
    const stats = listing.map((p) => p.stat!);
    expect(stats.map((s) => s.path)).toEqual(['Dockerfile', 'link', 'src', 'src/app.ts', 'src/big.bin', 'z.txt']);
    expect(stats.map((s) => s.mode)).toEqual([0o644, GO_MODE_SYMLINK + 0o777, GO_MODE_DIR + 0o755, 0o644, 0o644, 0o644]);
    expect(stats[1]).toMatchObject({ linkname: 'z.txt' });
    expect(stats[4]).toMatchObject({ size: big.length });
    for (const s of stats) expect(s.modTime >= BASE_NS && s.modTime < BASE_NS + 1_000_000_000n, s.path).toBe(true);

    // Ask for two files by their index in the listing, as the engine does for changed ones.
    const bigId = stats.findIndex((s) => s.path === 'src/big.bin');
    const dockerfileId = stats.findIndex((s) => s.path === 'Dockerfile');
    const received = await fetchFiles(call, [bigId, dockerfileId]);
    expect(Buffer.concat(received.get(bigId) ?? []).equals(big)).toBe(true);
    expect(received.get(bigId)?.length).toBeGreaterThan(1);
    expect(Buffer.concat(received.get(dockerfileId) ?? []).toString()).toBe(files.Dockerfile);

    await finish(call);
    expect(syncs.at(-1)).toEqual({ entries: 6, filesSent: 2, bytesSent: big.length + Buffer.byteLength(files.Dockerfile) });
  });

  it('serves a generated Dockerfile from memory, dated by its content', async () => {
    const call = new TestCall(pair.client, DIFFCOPY, { 'dir-name': 'dockerfile' });
    const [only, ...more] = await statsUntilEnd(call);
    expect(more).toEqual([]);
    expect(only?.stat).toMatchObject({ path: 'Dockerfile', mode: 0o644, size: dockerfile.length, modTime: mtimeOf({ content: dockerfile }) });
    const received = await fetchFiles(call, [0]);
    expect(Buffer.concat(received.get(0) ?? []).equals(dockerfile)).toBe(true);
    await finish(call);
    expect(syncs.at(-1)).toEqual({ entries: 1, filesSent: 1, bytesSent: dockerfile.length });
  });

  it('fails the call, instead of hanging, when a directory is requested as a file', async () => {
    const call = new TestCall(pair.client, DIFFCOPY, { 'dir-name': 'context' });
    const listing = await statsUntilEnd(call);
    call.send(encodePacket({ type: PacketType.REQ, id: listing.findIndex((p) => p.stat?.path === 'src') }));
    const { trailers } = await call.done;
    expect(trailers['grpc-status']).toBeDefined();
    expect(trailers['grpc-status']).not.toBe('0');
    expect(decodeURIComponent(String(trailers['grpc-message']))).toMatch(/#2\b.*not a file/);
    call.end();
  }, 10_000);
});
