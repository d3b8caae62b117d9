import { connect as h2connect, performServerHandshake, type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Session } from 'node:http2';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveGrpc, type GrpcHandler } from '../../../src/buildkit/grpc-server.js';

/**
 * Both ends of an engine session without Docker: our side is an HTTP/2 *server* on a connection it
 * did not listen for (performServerHandshake on an accepted socket, as after POST /session), and the
 * test plays the engine, a gRPC client (grpc-go's framing and headers).
 */
export interface SessionPair {
  client: ClientHttp2Session;
  close(): Promise<void>;
}

export async function startSessionPair(handlers: Readonly<Record<string, GrpcHandler>>): Promise<SessionPair> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-grpc-'));
  const path = join(dir, 'session.sock');
  const sessions: ServerHttp2Session[] = [];
  const server: Server = createServer((socket) => {
    const session = performServerHandshake(socket);
    sessions.push(session);
    serveGrpc(session, handlers);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = h2connect('http://localhost', { createConnection: () => netConnect(path) });
  return {
    client,
    close: async () => {
      client.destroy();
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CallEnd {
  headers: IncomingHttpHeaders;
  /** Empty for a trailers-only response (the status is then in the headers). */
  trailers: IncomingHttpHeaders;
}

/** One gRPC call as grpc-go makes it: POST, application/grpc, te: trailers, metadata as headers. */
export class TestCall {
  private readonly stream: ReturnType<ClientHttp2Session['request']>;
  private readonly queue: Uint8Array[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;
  /** Settles when the response is over (trailers received, or the stream closed). */
  readonly done: Promise<CallEnd>;

  constructor(client: ClientHttp2Session, path: string, metadata: Record<string, string | string[]> = {}) {
    const stream = client.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...metadata });
    this.stream = stream;
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 5 && this.buf.length >= 5 + this.buf.readUInt32BE(1)) {
        const len = this.buf.readUInt32BE(1);
        this.queue.push(this.buf.subarray(5, 5 + len));
        this.buf = this.buf.subarray(5 + len);
      }
      this.wake?.();
    });
    this.done = new Promise((resolve) => {
      const finish = (): void => {
        this.ended = true;
        this.wake?.();
        resolve({ headers, trailers });
      };
      stream.on('end', finish);
      stream.on('close', finish);
      stream.on('error', () => undefined); // a reset shows as the missing grpc-status
    });
  }

  send(message: Uint8Array): void {
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    this.stream.write(frame);
  }

  /** Half-closes the request side (grpc-go's CloseSend). */
  end(): void {
    this.stream.end();
  }

  /** The next response message, or undefined once the response has ended. */
  async next(): Promise<Uint8Array | undefined> {
    while (this.queue.length === 0 && !this.ended) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    return this.queue.shift();
  }

  /** Every remaining response message. */
  async rest(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let m = await this.next(); m !== undefined; m = await this.next()) out.push(m);
    return out;
  }
}
