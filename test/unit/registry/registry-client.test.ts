import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../../src/registry/manifest.js';
import { DOCKER_MANIFEST } from '../../../src/registry/media-types.js';
import { RegistryClient, type RegistryError } from '../../../src/registry/registry-client.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
const fast = { backoff: { retries: 2, baseMs: 1, maxMs: 2 } };
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: {}, layers: [] }));

async function serve(handler: Handler): Promise<{ registry: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { registry: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

afterEach(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const serveManifest = (res: ServerResponse, body = manifest): void => {
  res.writeHead(200, { 'Content-Type': DOCKER_MANIFEST, 'Docker-Content-Digest': sha256Digest(manifest) }).end(body);
};

describe('RegistryClient', () => {
  it('answers a Bearer challenge with a token for the scope and reuses it on the next call', async () => {
    const basic = `Basic ${Buffer.from('robot$ci:s3cret').toString('base64')}`;
    const { registry, seen } = await serve((req, res) => {
      if (req.url?.startsWith('/token')) {
        const ok = req.headers.authorization === basic;
        return void res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'tok-1', expires_in: 300 }));
      }
      if (req.headers.authorization !== 'Bearer tok-1') {
        const realm = `http://${req.headers.host}/token`;
        return void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}",service="harbor-registry",scope="repository:team/app:pull"` }).end();
      }
      serveManifest(res);
    });
    const client = new RegistryClient({ registry, auth: { username: 'robot$ci', password: 's3cret' }, ...fast });
    expect(await client.getManifest('team/app', 'v1')).toMatchObject({ digest: sha256Digest(manifest), mediaType: DOCKER_MANIFEST });
    await client.getManifest('team/app', 'v2');
    expect(seen).toEqual([
      'GET /v2/team/app/manifests/v1 -',
      `GET /token?service=harbor-registry&scope=repository%3Ateam%2Fapp%3Apull ${basic}`,
      'GET /v2/team/app/manifests/v1 Bearer tok-1',
      'GET /v2/team/app/manifests/v2 Bearer tok-1',
    ]);
  });

  it('sends Basic credentials when challenged for them and fails clearly when they are rejected', async () => {
    const { registry } = await serve((req, res) => {
      if (req.headers.authorization === `Basic ${Buffer.from('u:right').toString('base64')}`) return serveManifest(res);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' }).end();
    });
    await expect(new RegistryClient({ registry, auth: { username: 'u', password: 'right' } }).headManifest('app', 'v1')).resolves.toMatchObject({
      digest: sha256Digest(manifest),
    });
    await expect(new RegistryClient({ registry, auth: { username: 'u', password: 'wrong' } }).headManifest('app', 'v1')).rejects.toThrow(
      `registry ${registry}: HEAD manifest app:v1 answered 401: credentials rejected`,
    );
    await expect(new RegistryClient({ registry }).headManifest('app', 'v1')).rejects.toThrow(/credentials required/);
  });

  it('retries 5xx with backoff and gives up after the bounded attempts, saying how many', async () => {
    let calls = 0;
    const { registry } = await serve((_req, res) => {
      calls++;
      if (calls < 3) return void res.writeHead(503).end('{"errors":[{"code":"UNAVAILABLE","message":"storage busy"}]}');
      serveManifest(res);
    });
    await expect(new RegistryClient({ registry, ...fast }).getManifest('app', 'v1')).resolves.toMatchObject({ digest: sha256Digest(manifest) });
    calls = -100;
    const err = (await new RegistryClient({ registry, ...fast }).getManifest('app', 'v1').catch((e: unknown) => e)) as RegistryError;
    expect(err.message).toBe(`registry ${registry}: GET manifest app:v1 answered 503 after 3 attempts: UNAVAILABLE: storage busy`);
    expect(err.retryable).toBe(true);
  });

  it('does not retry a 4xx and reports the registry error code', async () => {
    let calls = 0;
    const { registry } = await serve((_req, res) => {
      calls++;
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}');
    });
    const put = new RegistryClient({ registry, ...fast }).putManifest('app', 'v1', { bytes: manifest, mediaType: DOCKER_MANIFEST });
    await expect(put).rejects.toThrow(`registry ${registry}: PUT manifest app:v1 answered 400: MANIFEST_INVALID: manifest invalid`);
    expect(calls).toBe(1);
  });

  it('times out a registry that does not answer', async () => {
    const { registry } = await serve(() => undefined);
    const err = (await new RegistryClient({ registry, timeoutMs: 100, backoff: { retries: 1, baseMs: 1, maxMs: 1 } })
      .headBlob('app', `sha256:${'a'.repeat(64)}`)
      .catch((e: unknown) => e)) as RegistryError;
    expect(err.message).toBe(`registry ${registry}: HEAD blob app@sha256:${'a'.repeat(64)} got no answer after 2 attempts: timed out`);
  });

  it('refuses a manifest whose bytes do not match the digest the registry claims', async () => {
    const { registry } = await serve((_req, res) => serveManifest(res, Buffer.from('{"tampered":true}')));
    await expect(new RegistryClient({ registry }).getManifest('app', 'v1')).rejects.toThrow(/content hashes to sha256:\w+ but sha256:\w+ was expected/);
  });

  it('follows Link pagination when listing tags and treats a missing repository as no tags', async () => {
    const { registry } = await serve((req, res) => {
      if (req.url?.startsWith('/v2/gone/')) return void res.writeHead(404).end('{"errors":[{"code":"NAME_UNKNOWN"}]}');
      const last = req.url?.includes('last=b');
      res
        .writeHead(200, last ? {} : { Link: '</v2/app/tags/list?n=2&last=b>; rel="next"' })
        .end(JSON.stringify({ name: 'app', tags: last ? ['c'] : ['a', 'b'] }));
    });
    const client = new RegistryClient({ registry });
    expect(await client.listTags('app')).toEqual(['a', 'b', 'c']);
    expect(await client.listTags('gone')).toEqual([]);
  });

  it('rejects repository names and references that would change the URL', async () => {
    const client = new RegistryClient({ registry: '127.0.0.1:1' });
    await expect(client.headManifest('../etc', 'v1')).rejects.toThrow('invalid repository name "../etc"');
    await expect(client.headManifest('app', 'v1/../x')).rejects.toThrow('invalid tag or digest');
  });
});
