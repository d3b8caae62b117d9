import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { performServerHandshake } from 'node:http2';
import { randomBytes } from 'node:crypto';
import { serveGrpc, type GrpcHandler } from './grpc-server.js';

/** Where the engine listens: its unix socket (DOCKER_HOST must be unix://, see config). */
export interface EngineAddress {
  socketPath: string;
}

export interface EngineSession {
  id: string;
  /** Ends the session; the engine drops it with the connection. */
  close(): void;
  /** Settles when the engine closes the connection. */
  closed: Promise<void>;
}

const HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * Opens a BuildKit session with the engine (POST /session, upgraded to h2c, as the docker CLI does
 * for `DOCKER_BUILDKIT=1`): the engine then calls the gRPC methods we expose over that connection
 * (file sync, health). The methods are announced in X-Docker-Expose-Session-Grpc-Method headers;
 * the engine asks only for those. `sharedKey` names the local source across builds, so the engine
 * keeps the previous build's files and asks only for what changed.
 */
export async function openEngineSession(
  engine: EngineAddress,
  opts: { name: string; sharedKey: string; handlers: Readonly<Record<string, GrpcHandler>> },
): Promise<EngineSession> {
  const id = randomBytes(16).toString('hex');
  for (const [k, v] of Object.entries({ name: opts.name, sharedKey: opts.sharedKey })) {
    // They go into HTTP headers: printable ASCII only (no CR/LF smuggling, no engine rejection).
    if (!/^[\x21-\x7e]{1,200}$/.test(v)) throw new Error(`session ${k} must be printable ASCII without spaces`);
  }
  const socket = await dial(engine);
  const lines = [
    // 1.41: the engine API of Docker 20.10, the oldest engine Slipway is tested with.
    'POST /v1.41/session HTTP/1.1',
    'Host: docker',
    'Upgrade: h2c',
    'Connection: Upgrade',
    'Content-Length: 0',
    `X-Docker-Expose-Session-Uuid: ${id}`,
    `X-Docker-Expose-Session-Name: ${opts.name}`,
    `X-Docker-Expose-Session-Sharedkey: ${opts.sharedKey}`,
    ...Object.keys(opts.handlers).map((m) => `X-Docker-Expose-Session-Grpc-Method: ${m}`),
  ];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  const early = await readUpgrade(socket);
  const h2 = performServerHandshake(withPrefix(socket, early));
  h2.on('error', () => socket.destroy());
  serveGrpc(h2, opts.handlers);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    id,
    closed,
    close: () => {
      h2.close();
      socket.destroy();
    },
  };
}

function dial(engine: EngineAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ path: engine.socketPath });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * The socket as a stream that first replays `prefix`. Node's HTTP/2 reads a net.Socket's handle
 * directly, so bytes we already took off it (the engine's HTTP/2 preface often arrives in the same
 * packet as the 101 response) would be lost with socket.unshift().
 */
function withPrefix(socket: Socket, prefix: Buffer): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    // A write that fails means the engine is gone: the socket's 'close' ends the session, and the
    // build request fails with the engine's own error, which says more than EPIPE.
    write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, () => cb()),
    final: (cb) => void socket.end(cb),
    destroy: (err, cb) => {
      socket.destroy();
      cb(err);
    },
  });
  if (prefix.length > 0) stream.push(prefix);
  socket.on('data', (c: Buffer) => {
    if (!stream.push(c)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  socket.on('error', () => stream.destroy());
  return stream;
}

/** Reads the HTTP/1.1 response head; returns what came after it (already HTTP/2). */
function readUpgrade(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error('the engine did not answer the session request')), HANDSHAKE_TIMEOUT_MS);
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 64 * 1024) fail(new Error('the engine sent an oversized response to the session request'));
        return;
      }
      cleanup();
      const text = head.subarray(0, end).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      if (status !== '101') {
        socket.destroy();
        const body = head
          .subarray(end + 4)
          .toString('utf8')
          .trim();
        reject(
          new Error(
            `the engine refused a BuildKit session: HTTP ${status ?? '?'} ${body.slice(0, 300)} (an engine without BuildKit? SLIPWAY_IMAGE_BUILDER=classic uses the legacy builder)`,
          ),
        );
        return;
      }
      socket.pause();
      resolve(head.subarray(end + 4));
    };
    const onClose = (): void => fail(new Error('the engine closed the connection during the session request'));
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', fail);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', fail);
  });
}
