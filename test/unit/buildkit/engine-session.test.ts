import { mkdtempSync, rmSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openEngineSession } from '../../../src/buildkit/engine-session.js';
import { HEALTH_SERVING } from '../../../src/buildkit/messages.js';

// A stand-in for the engine's POST /session (moby api/server/router/session; buildkit
// session/manager.go HandleHTTPRequest): it reads the upgrade request, answers 101, and then
// dials *us* as an HTTP/2 client on the same connection, as the engine's gRPC client does.
const HEALTH = '/grpc.health.v1.Health/Check';
let server: Server | undefined;
let dir = '';
afterEach(() => {
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function fakeEngine(onRequest: (head: string, socket: Socket) => void): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'slipway-engine-'));
  const path = join(dir, 'docker.sock');
  server = createServer((socket) => {
    socket.on('error', () => undefined); // our side closes the session at the end of each test
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      onRequest(head, socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server?.listen(path, resolve));
  return path;
}

describe('the engine session handshake', () => {
  it('announces id, name, shared key and every method, then serves the engine on the same connection', async () => {
    let head = '';
    const reply = new Promise<Buffer>((resolve, reject) => {
      void fakeEngine((h, socket) => {
        head = h;
        // The 101 and the engine's HTTP/2 preface leave in one packet, as they often do for real:
        // bytes read past the 101 must reach our HTTP/2 server.
        // (The client writes through a JS stream so that socket.cork() holds its preface too.)
        socket.cork();
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
        const wire = new Duplex({ read: () => undefined, write: (c: Buffer, _e, cb) => void socket.write(c, () => cb()) });
        socket.on('data', (c: Buffer) => wire.push(c));
        socket.on('end', () => wire.push(null));
        wire.on('error', () => undefined);
        const client = h2connect('http://localhost', { createConnection: () => wire });
        const req = client.request({ ':method': 'POST', ':path': HEALTH, 'content-type': 'application/grpc', te: 'trailers' });
        req.end(Buffer.alloc(5));
        setImmediate(() => socket.uncork());
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          client.close();
          resolve(Buffer.concat(chunks));
        });
        req.on('error', reject);
      }).then((path) => sessionAt(path));
    });
    let session: Awaited<ReturnType<typeof openEngineSession>> | undefined;
    const sessionAt = async (path: string) => {
      session = await openEngineSession(
        { socketPath: path },
        {
          name: 'slipway',
          sharedKey: 'slipway-abc',
          handlers: { [HEALTH]: async (call) => call.send(HEALTH_SERVING), '/moby.filesync.v1.FileSync/DiffCopy': async () => undefined },
        },
      );
    };
    const body = await reply;
    expect(body.subarray(5).toString('hex')).toBe(Buffer.from(HEALTH_SERVING).toString('hex'));
    expect(head).toMatch(/^POST \/v1\.\d+\/session HTTP\/1\.1\r\n/);
    expect(head).toContain('Upgrade: h2c\r\n');
    expect(head).toContain(`X-Docker-Expose-Session-Uuid: ${session?.id}\r\n`);
    expect(head).toContain('X-Docker-Expose-Session-Sharedkey: slipway-abc\r\n');
    // One header line per method: the engine's session manager reads them as separate values.
    expect(head.match(/X-Docker-Expose-Session-Grpc-Method: [^\r]*/g)).toEqual([
      `X-Docker-Expose-Session-Grpc-Method: ${HEALTH}`,
      'X-Docker-Expose-Session-Grpc-Method: /moby.filesync.v1.FileSync/DiffCopy',
    ]);
    session?.close();
  });

  it('says plainly when the engine refuses the session, and what to do about it', async () => {
    const path = await fakeEngine((_h, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{"message":"page not found"}'));
    await expect(openEngineSession({ socketPath: path }, { name: 'slipway', sharedKey: 'k', handlers: {} })).rejects.toThrow(
      /refused a BuildKit session: HTTP 404 .*page not found.*SLIPWAY_IMAGE_BUILDER=classic/,
    );
  });

  it('refuses a shared key that could smuggle a header', async () => {
    await expect(openEngineSession({ socketPath: '/nonexistent.sock' }, { name: 'slipway', sharedKey: 'a\r\nX-Evil: 1', handlers: {} })).rejects.toThrow(
      /printable ASCII/,
    );
  });
});
