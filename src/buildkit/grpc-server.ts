import type { Http2Session, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

/**
 * A gRPC server on an HTTP/2 session we did not listen for: the engine dials *us* over the
 * connection we upgraded (POST /session), so @grpc/grpc-js, which only serves on ports, cannot be
 * used. gRPC on HTTP/2 is small (grpc/grpc PROTOCOL-HTTP2.md): a POST to /<service>/<method>,
 * messages framed as 1 byte "compressed" + 4 bytes big-endian length + payload, and the status in
 * trailers (grpc-status, grpc-message).
 */

export interface GrpcCall {
  path: string;
  /** Request metadata, every value of a repeated key kept separately (grpc sends a header per value). */
  metadata: ReadonlyMap<string, readonly string[]>;
  /** The request messages, as they arrive. */
  messages: AsyncIterable<Uint8Array>;
  /** Sends one response message; resolves when the stream can take more (back-pressure). */
  send(message: Uint8Array): Promise<void>;
  /** Aborted when the peer resets or closes the stream. */
  signal: AbortSignal;
}

/** Resolving ends the call with status OK; throwing ends it with UNKNOWN and the error's message. */
export type GrpcHandler = (call: GrpcCall) => Promise<void>;

const OK = 0;
const UNKNOWN = 2;
const UNIMPLEMENTED = 12;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export function serveGrpc(session: ServerHttp2Session | Http2Session, handlers: Readonly<Record<string, GrpcHandler>>): void {
  session.on('stream', (stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>, _flags: number, rawHeaders: string[]) => {
    const path = String(headers[':path'] ?? '');
    const handler = handlers[path];
    if (!handler) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(UNIMPLEMENTED), 'grpc-message': encodeMessage(`unknown method ${path}`) },
        { endStream: true },
      );
      return;
    }
    void runCall(stream, path, metadataOf(rawHeaders), handler);
  });
}

async function runCall(stream: ServerHttp2Stream, path: string, metadata: Map<string, string[]>, handler: GrpcHandler): Promise<void> {
  const abort = new AbortController();
  stream.on('close', () => abort.abort());
  stream.on('error', () => abort.abort());
  let trailers: Record<string, string> = { 'grpc-status': String(OK) };
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  const call: GrpcCall = {
    path,
    metadata,
    messages: readMessages(stream),
    signal: abort.signal,
    send: (message) => writeMessage(stream, message, abort.signal),
  };
  try {
    await handler(call);
  } catch (err) {
    trailers = { 'grpc-status': String(UNKNOWN), 'grpc-message': encodeMessage(err instanceof Error ? err.message : String(err)) };
  }
  if (!stream.destroyed && !stream.closed) stream.end();
}

function metadataOf(rawHeaders: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = (rawHeaders[i] ?? '').toLowerCase();
    if (key.startsWith(':')) continue;
    const list = out.get(key) ?? [];
    list.push(rawHeaders[i + 1] ?? '');
    out.set(key, list);
  }
  return out;
}

/**
 * The request messages. Not `for await (… of stream)`: leaving that loop early (a handler that is
 * done after the peer's FIN) destroys the stream, which resets it (RST_STREAM CANCEL) before our
 * reply and trailers are out.
 */
async function* readMessages(stream: ServerHttp2Stream): AsyncGenerator<Uint8Array> {
  const chunks: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  stream.on('data', (c: Buffer) => {
    chunks.push(c);
    wake?.();
  });
  stream.on('end', () => {
    ended = true;
    wake?.();
  });
  stream.on('error', (e: Error) => {
    failure = e;
    wake?.();
  });
  let buf: Buffer = Buffer.alloc(0);
  for (;;) {
    while (chunks.length === 0 && !ended && !failure) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    if (failure) throw failure;
    if (chunks.length === 0 && ended) return;
    const chunk = chunks.shift() as Buffer;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 5) {
      if (buf[0] !== 0) throw new Error('compressed gRPC messages are not supported (none were negotiated)');
      const len = buf.readUInt32BE(1);
      if (len > MAX_MESSAGE_BYTES) throw new Error(`gRPC message of ${len} bytes is over the ${MAX_MESSAGE_BYTES} byte limit`);
      if (buf.length < 5 + len) break;
      yield buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
    }
  }
}

function writeMessage(stream: ServerHttp2Stream, message: Uint8Array, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new Error('the engine closed the stream'));
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  if (stream.write(frame)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (): void => {
      stream.off('drain', done);
      signal.removeEventListener('abort', done);
      if (signal.aborted) reject(new Error('the engine closed the stream'));
      else resolve();
    };
    stream.on('drain', done);
    signal.addEventListener('abort', done);
  });
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md: "Status-Message"). */
function encodeMessage(text: string): string {
  return encodeURIComponent(text.slice(0, 2000));
}
