import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFor } from '../../../src/buildkit/session-auth.js';
import { startSessionPair, TestCall, type SessionPair } from './grpc-client.js';

// The engine's side of moby.filesync.v1.Auth/Credentials (buildkit session/auth/auth.proto):
// CredentialsRequest{Host=1} → CredentialsResponse{Username=1, Secret=2}, encoded here
// independently of the module under test.
const CREDENTIALS = '/moby.filesync.v1.Auth/Credentials';
const request = (host: string): Uint8Array =>
  protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .string(host)
    .finish();
function response(buf: Uint8Array): { username: string; secret: string } {
  const r = protobuf.Reader.create(buf);
  const out = { username: '', secret: '' };
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) out.username = r.string();
    else if (tag >>> 3 === 2) out.secret = r.string();
    else r.skipType(tag & 7);
  }
  return out;
}

describe('registry credentials over the session', () => {
  let pair: SessionPair;
  beforeAll(async () => {
    pair = await startSessionPair({ [CREDENTIALS]: credentialsFor({ serveraddress: 'harbor.corp:443', username: 'robot$ci', password: 's3cret' }) });
  });
  afterAll(async () => pair.close());

  const ask = async (host: string) => {
    const call = new TestCall(pair.client, CREDENTIALS);
    call.send(request(host));
    call.end();
    const [reply] = await call.rest();
    expect((await call.done).trailers['grpc-status']).toBe('0');
    return response(reply ?? new Uint8Array());
  };

  it('gives the robot account for the configured registry', async () => {
    expect(await ask('harbor.corp:443')).toEqual({ username: 'robot$ci', secret: 's3cret' });
  });

  it('gives nothing to any other registry a Dockerfile names', async () => {
    expect(await ask('evil.example.com')).toEqual({ username: '', secret: '' });
    expect(await ask('harbor.corp')).toEqual({ username: '', secret: '' });
  });
});
