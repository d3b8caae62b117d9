import type { GrpcCall } from './grpc-server.js';
import { statOf, type BlobReader, type TreeEntry } from './git-tree.js';
import { decodePacket, encodePacket, PacketType } from './messages.js';

const CHUNK_BYTES = 128 * 1024;

export interface SyncStats {
  entries: number;
  /** Files the engine asked for: the ones that changed since its last sync of this source. */
  filesSent: number;
  bytesSent: number;
}

/**
 * The sending side of fsutil's DiffCopy (github.com/tonistiigi/fsutil send.go), the protocol of
 * BuildKit's `/moby.filesync.v1.FileSync/DiffCopy`: we send a STAT packet per entry in walk order
 * and an empty STAT to end the listing; the engine compares that with what it kept from the last
 * sync and asks (REQ, by the entry's index) for the files that differ; each is sent as DATA packets
 * and an empty DATA; the engine's FIN is answered with FIN.
 */
export async function sendTree(call: GrpcCall, entries: readonly TreeEntry[], blobs: BlobReader): Promise<SyncStats> {
  const stats: SyncStats = { entries: entries.length, filesSent: 0, bytesSent: 0 };
  // Packets from the walk and from file sends share one stream: one at a time, in order.
  let chain: Promise<void> = Promise.resolve();
  const send = (p: Parameters<typeof encodePacket>[0]): Promise<void> => {
    const next = chain.then(() => call.send(encodePacket(p)));
    chain = next.catch(() => undefined);
    return next;
  };
  const files = new Map<number, TreeEntry>();
  entries.forEach((e, i) => {
    if (e.kind === 'file') files.set(i, e);
  });

  const sendFile = async (id: number): Promise<void> => {
    const e = files.get(id);
    if (!e) throw new Error(`the engine asked for file #${id}, which is not a file of this listing`);
    files.delete(id);
    stats.filesSent += 1;
    const chunk = async (data: Buffer): Promise<void> => {
      for (let o = 0; o < data.length; o += CHUNK_BYTES) {
        const part = data.subarray(o, o + CHUNK_BYTES);
        stats.bytesSent += part.length;
        await send({ type: PacketType.DATA, id, data: part });
      }
    };
    if (e.content) await chunk(e.content);
    else if (e.oid) await blobs.read(e.oid, chunk);
    await send({ type: PacketType.DATA, id });
  };

  // A failed walk or file send ends the call at once (the engine would otherwise wait for data).
  let fail: (err: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const walk = (async () => {
    for (const e of entries) await send({ type: PacketType.STAT, stat: statOf(e) });
    await send({ type: PacketType.STAT });
  })();
  walk.catch(fail);

  const receive = async (): Promise<SyncStats> => {
    let pending: Promise<void> = Promise.resolve();
    for await (const message of call.messages) {
      const p = decodePacket(message);
      if (p.type === PacketType.REQ) {
        const id = p.id ?? 0;
        pending = pending.then(() => sendFile(id));
        pending.catch(fail);
      } else if (p.type === PacketType.FIN) {
        await walk;
        await pending;
        await send({ type: PacketType.FIN });
        return stats;
      } else if (p.type === PacketType.ERR) {
        throw new Error(`the engine failed to receive the files: ${Buffer.from(p.data ?? []).toString('utf8')}`);
      }
    }
    throw new Error('the engine ended the file sync without finishing it');
  };
  return Promise.race([receive(), failed]);
}
