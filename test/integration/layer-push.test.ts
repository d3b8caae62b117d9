import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildImage } from '../../src/images/classic-builder.js';
import { pushImageLayers } from '../../src/images/layer-push.js';
import { RegistryClient } from '../../src/registry/registry-client.js';
import { startRegistryFaultProxy, type RegistryFaultProxy } from '../helpers/registry-fault-proxy.js';
import { baseImageFromEnv, dockerFromEnv, registryFromEnv, uniqueId } from '../helpers/services.js';

// Slipway's own push (src/images/layer-push.ts) against the real registry on :5050, through a proxy
// that wants Basic credentials for writes (a robot account) and records every request, so uploads
// are counted by what reached the registry, not by what Slipway says it did.
const docker = dockerFromEnv();
const registry = registryFromEnv();
const id = uniqueId();
const repository = `slipway-test/layer-push-${id}`;
const creds = { username: 'robot$pusher', password: `pw-${randomBytes(8).toString('hex')}` };
const auth = { ...creds, serveraddress: '' };
const images = new Set<string>();
let proxy: RegistryFaultProxy;
let image = '';
let baseLayers = 0;
const plain = new RegistryClient({ registry });

function context(files: Record<string, string>): Readable {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0) }, content);
  p.finalize();
  return Readable.from(p);
}

// A large, compressible layer that stays the same, and a small one that changes.
const lib = Array.from({ length: 40_000 }, (_, i) => `export const v${i} = ${JSON.stringify(randomBytes(12).toString('base64'))};\n`).join('');
const dockerfile = `FROM ${baseImageFromEnv()}\nCOPY lib.js /app/lib.js\nCOPY app.txt /app/app.txt\n`;

async function build(tag: string, app: string): Promise<string> {
  const { imageId } = await buildImage(docker, {
    context: context({ Dockerfile: dockerfile, 'lib.js': lib, 'app.txt': app }),
    dockerfile: 'Dockerfile',
    tags: [`${image}:${tag}`],
    labels: {},
    buildArgs: {},
    onLog: () => undefined,
    timeoutMs: 120_000,
  });
  images.add(imageId);
  return imageId;
}

/** "POST /v2/<repo>/blobs/uploads/" requests since `from`: one per blob uploaded (mounts, `?mount=`, apart). */
function uploadsSince(from: number, repo = repository): number {
  return proxy.requests.slice(from).filter((r) => r.startsWith(`POST /v2/${repo}/blobs/uploads/`) && !r.includes('mount=')).length;
}

async function layersOf(digest: string): Promise<{ config: string; layers: Array<{ digest: string; mediaType: string; size: number }> }> {
  const m = await plain.getManifest(repository, digest);
  expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
  const json = JSON.parse(m.bytes.toString()) as { config: { digest: string }; layers: Array<{ digest: string; mediaType: string; size: number }> };
  return { config: json.config.digest, layers: json.layers };
}

beforeAll(async () => {
  proxy = await startRegistryFaultProxy(registry, creds);
  image = `${proxy.host}/${repository}`;
  baseLayers = (await docker.getImage(baseImageFromEnv()).inspect()).RootFS.Layers?.length ?? 0;
}, 30_000);

afterAll(async () => {
  await proxy?.close();
  for (const imageId of images)
    await docker
      .getImage(imageId)
      .remove({ force: true })
      .catch(() => undefined);
});

describe("Slipway's own layer push (real engine and registry)", { timeout: 180_000 }, () => {
  let first = '';
  let firstLayers: string[] = [];

  it('pushes every layer of a new repository, gzip level 1, and the registry serves the digest it returns', async () => {
    const imageId = await build('v1', 'app v1\n');
    const mark = proxy.requests.length;
    const logs: string[] = [];
    const r = await pushImageLayers(docker, { image, tags: ['v1'], auth, onLog: (l) => logs.push(l), timeoutMs: 120_000 });
    first = r.digest;
    expect((await plain.headManifest(repository, 'v1'))?.digest).toBe(r.digest);
    const { config, layers } = await layersOf(r.digest);
    firstLayers = layers.map((l) => l.digest);
    // The config is the engine's own bytes: its digest is the image ID.
    expect(config).toBe(imageId);
    expect(layers).toHaveLength(baseLayers + 2);
    expect(layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
    expect(uploadsSince(mark)).toBe(baseLayers + 3); // the base's layers, lib.js, app.txt, config
    expect(r.uploaded.sort()).toEqual([config, ...firstLayers].sort());
    // gzip's XFL byte is 4 ("fastest") for level 1, 0 for the default level the engine uses.
    const big = layers.reduce((a, b) => (b.size > a.size ? b : a));
    const head = Buffer.from(await new Response(await plain.getBlob(repository, big.digest)).arrayBuffer());
    expect([head[0], head[1], head[8]]).toEqual([0x1f, 0x8b, 4]);
    expect(gunzipSync(head).length).toBeGreaterThan(lib.length);
    expect(logs.at(-1)).toMatch(new RegExp(`pushed .* as v1: ${baseLayers + 3} blobs uploaded`));
    // Credentials went only in the Authorization header.
    expect(proxy.writeAuthorizations.length).toBeGreaterThan(0);
    expect(proxy.requests.join('\n')).not.toContain(creds.password);
    expect(logs.join('\n')).not.toContain(creds.password);
  });

  it('a one-file change uploads only the new layer and the config, and every tag gets the same digest', async () => {
    await build('v2', 'app v2\n');
    await docker.getImage(`${image}:v2`).tag({ repo: image, tag: 'main' });
    const mark = proxy.requests.length;
    const r = await pushImageLayers(docker, { image, tags: ['v2', 'main'], knownFrom: ['v1'], auth, onLog: () => undefined, timeoutMs: 120_000 });
    const { config, layers } = await layersOf(r.digest);
    const kept = baseLayers + 1; // the base's layers and lib.js
    expect(layers.slice(0, kept).map((l) => l.digest)).toEqual(firstLayers.slice(0, kept));
    expect(layers.at(-1)?.digest).not.toBe(firstLayers.at(-1));
    expect(uploadsSince(mark)).toBe(2);
    expect(r.uploaded.sort()).toEqual([config, layers.at(-1)?.digest].sort());
    expect(r.skipped.sort()).toEqual(firstLayers.slice(0, kept).sort());
    expect((await plain.headManifest(repository, 'v2'))?.digest).toBe(r.digest);
    expect((await plain.headManifest(repository, 'main'))?.digest).toBe(r.digest);
    expect(r.digest).not.toBe(first);
  });

  it('pushing the same image again uploads nothing and gives the same digest', async () => {
    const before = (await plain.headManifest(repository, 'v2'))?.digest;
    const mark = proxy.requests.length;
    const r = await pushImageLayers(docker, { image, tags: ['v2'], auth, onLog: () => undefined, timeoutMs: 120_000 });
    expect(r.digest).toBe(before);
    expect(uploadsSince(mark)).toBe(0);
    expect(r.uploaded).toEqual([]);
  });

  it('an image in another repository of the registry mounts the layers it shares instead of uploading them', async () => {
    const other = `${repository}-copy`;
    await docker.getImage(`${image}:v2`).tag({ repo: `${proxy.host}/${other}`, tag: '1' });
    const mark = proxy.requests.length;
    const r = await pushImageLayers(docker, { image: `${proxy.host}/${other}`, tags: ['1'], auth, onLog: () => undefined, timeoutMs: 120_000 });
    const { layers } = await layersOf(r.digest);
    expect(r.digest).toBe((await plain.headManifest(repository, 'v2'))?.digest);
    expect(r.mounted.sort()).toEqual(layers.map((l) => l.digest).sort());
    expect(uploadsSince(mark, other)).toBe(1); // the config only
    expect(proxy.requests.slice(mark).filter((q) => q.startsWith(`POST /v2/${other}/blobs/uploads/?mount=`))).toHaveLength(layers.length);
    await docker.getImage(`${proxy.host}/${other}:1`).remove();
  });

  it("after a restart (nothing remembered), the branch's earlier image still says which layers are there", async () => {
    await build('v5', 'app v5\n');
    vi.resetModules(); // a fresh build worker: this process's memory of what it pushed is gone
    const fresh = await import('../../src/images/layer-push.js');
    const mark = proxy.requests.length;
    const r = await fresh.pushImageLayers(docker, { image, tags: ['v5'], knownFrom: ['v2'], auth, onLog: () => undefined, timeoutMs: 120_000 });
    expect(uploadsSince(mark)).toBe(2); // app.txt's layer and the config
    expect(r.skipped).toHaveLength(baseLayers + 1);
  });

  it('retries an upload the registry fails once', async () => {
    await build('v3', 'app v3\n');
    proxy.failBlobPuts = 1;
    const failedBefore = proxy.failed;
    const r = await pushImageLayers(docker, { image, tags: ['v3'], knownFrom: ['v2'], auth, onLog: () => undefined, timeoutMs: 120_000 });
    expect(proxy.failed).toBe(failedBefore + 1);
    expect((await plain.headManifest(repository, 'v3'))?.digest).toBe(r.digest);
  });

  it('the engine pulls the pushed image by digest into an empty store and runs it', async () => {
    const { digest } = (await plain.headManifest(repository, 'v2')) ?? { digest: '' };
    // Remove every image of this test, so the pull must fetch and unpack our layers.
    for (const imageId of images) await docker.getImage(imageId).remove({ force: true });
    const ref = `${registry}/${repository}@${digest}`;
    const stream = await docker.pull(ref);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
    const pulled = await docker.getImage(ref).inspect();
    images.add(pulled.Id);
    expect(pulled.RepoDigests).toContain(ref);
    const container = await docker.createContainer({ Image: ref, Cmd: ['sh', '-c', 'cat /app/app.txt; wc -c < /app/lib.js'] });
    try {
      await container.start();
      await container.wait();
      const out = (await container.logs({ stdout: true, stderr: true })).toString('latin1');
      expect(out).toContain('app v2');
      expect(out).toContain(String(Buffer.byteLength(lib)));
    } finally {
      await container.remove({ force: true });
    }
  });

  it('fails within its deadline, saying so', async () => {
    await build('v4', 'app v4\n');
    await expect(pushImageLayers(docker, { image, tags: ['v4'], auth, onLog: () => undefined, timeoutMs: 5 })).rejects.toThrow(
      /push .*:v4 failed: .*(deadline|timed out)/,
    );
  });
});
