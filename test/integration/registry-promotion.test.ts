import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/images/classic-builder.js';
import { pushImage } from '../../src/images/image-push.js';
import { promoteImage } from '../../src/registry/promote.js';
import { PromotionFailedError, promoteWithRetries } from '../../src/registry/promote-with-retries.js';
import { RegistryClient, RegistryError } from '../../src/registry/registry-client.js';
import { baseImageFromEnv, dockerFromEnv, registryFromEnv, uniqueId } from '../helpers/services.js';

const docker = dockerFromEnv();
const pre = registryFromEnv();
const prod = process.env['SLIPWAY_REGISTRY2'] ?? '127.0.0.1:5051';
const id = uniqueId();
const repository = `slipway-test/promo-${id}`;
const images: string[] = [];
let first = { digest: '', blobs: [] as string[] };
let second = { digest: '', blobs: [] as string[] };

/** A build context as a tar stream; fixed mtimes so the layers are reproducible. */
function context(files: Record<string, string>): Readable {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0) }, content);
  p.finalize();
  return Readable.from(p);
}

async function buildAndPush(tag: string, dockerfile: string, files: Record<string, string>): Promise<{ digest: string; blobs: string[] }> {
  const { imageId } = await buildImage(docker, {
    context: context({ Dockerfile: dockerfile, ...files }),
    dockerfile: 'Dockerfile',
    tags: [`${pre}/${repository}:${tag}`],
    labels: {},
    buildArgs: {},
    onLog: () => undefined,
    timeoutMs: 90_000,
  });
  images.push(imageId);
  const { digest } = await pushImage(docker, { image: `${pre}/${repository}`, tag, onLog: () => undefined, timeoutMs: 60_000 });
  const manifest = JSON.parse((await new RegistryClient({ registry: pre }).getManifest(repository, digest)).bytes.toString()) as {
    config: { digest: string };
    layers: Array<{ digest: string }>;
  };
  return { digest, blobs: [manifest.config.digest, ...manifest.layers.map((l) => l.digest)] };
}

beforeAll(async () => {
  // Three layers of our own on top of the base: app.txt, lib.txt and a RUN.
  first = await buildAndPush('a', `FROM ${baseImageFromEnv()}\nCOPY lib.txt /lib.txt\nCOPY app.txt /app.txt\nRUN echo ${id} > /built\n`, {
    'lib.txt': `library ${id}\n`.repeat(500),
    'app.txt': 'app v1\n',
  });
  // Built FROM the first: shares all its layers, adds one, has its own config.
  second = await buildAndPush('b', `FROM ${pre}/${repository}:a\nCOPY extra.txt /extra.txt\n`, { 'extra.txt': `extra ${id}\n` });
});

afterAll(async () => {
  for (const image of images.reverse())
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
});

describe('image promotion between real registries', () => {
  it('copies every blob into an empty target and serves the same digest there', async () => {
    const logs: string[] = [];
    const r = await promoteImage({
      from: { registry: pre, repository, reference: 'a' },
      to: { registry: prod, repository, tag: '1.0.0' },
      onLog: (l) => logs.push(l),
    });
    expect(r.digest).toBe(first.digest);
    expect(r.copiedBlobs.sort()).toEqual([...first.blobs].sort());
    expect(r.skippedBlobs).toEqual([]);
    expect(r.mountedBlobs).toEqual([]);
    expect(r.copiedBytes).toBeGreaterThan(3_000);
    expect((await new RegistryClient({ registry: prod }).headManifest(repository, '1.0.0'))?.digest).toBe(first.digest);
    expect(logs.at(-1)).toMatch(new RegExp(`^promoted ${first.digest}: ${first.blobs.length} blobs copied`));
  });

  it('copies only the blobs the target lacks for an image that shares layers', async () => {
    const r = await promoteImage({ from: { registry: pre, repository, reference: 'b' }, to: { registry: prod, repository, tag: '1.1.0' } });
    const shared = first.blobs.slice(1); // every layer of the first image; its config is not part of the second
    const own = second.blobs.filter((b) => !shared.includes(b));
    expect(r.digest).toBe(second.digest);
    expect(r.skippedBlobs.sort()).toEqual([...shared].sort());
    expect(r.copiedBlobs.sort()).toEqual([...own].sort());
    expect(own).toHaveLength(2); // the new layer and the new config
  });

  it('copies nothing when the same image is promoted again, and moves the tag', async () => {
    const r = await promoteImage({ from: { registry: pre, repository, reference: second.digest }, to: { registry: prod, repository, tag: '1.0.0' } });
    expect(r.copiedBlobs).toEqual([]);
    expect(r.skippedBlobs).toHaveLength(second.blobs.length);
    const tags = await new RegistryClient({ registry: prod }).listTags(repository);
    expect(tags.sort()).toEqual(['1.0.0', '1.1.0']);
    expect((await new RegistryClient({ registry: prod }).headManifest(repository, '1.0.0'))?.digest).toBe(second.digest);
  });

  it('mounts blobs instead of copying them within one registry', async () => {
    const target = `${repository}-release`;
    const r = await promoteImage({ from: { registry: pre, repository, reference: 'a' }, to: { registry: pre, repository: target, tag: 'stable' } });
    expect(r.mountedBlobs.sort()).toEqual([...first.blobs].sort());
    expect(r.copiedBlobs).toEqual([]);
    expect((await new RegistryClient({ registry: pre }).headManifest(target, 'stable'))?.digest).toBe(first.digest);
  });

  it('says which call failed on which registry when the source tag does not exist', async () => {
    const err = await promoteImage({ from: { registry: pre, repository, reference: 'nope' }, to: { registry: prod, repository, tag: 'x' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toBe(`registry ${pre}: GET manifest ${repository}:nope answered 404: MANIFEST_UNKNOWN: manifest unknown`);
    expect((err as RegistryError).retryable).toBe(false);
    expect(await new RegistryClient({ registry: prod }).headManifest(repository, 'x')).toBeUndefined();
  });
});

describe('promotion retried as a whole', () => {
  it('does not retry what trying again cannot fix, and says so', async () => {
    const logs: string[] = [];
    const err = await promoteWithRetries(
      { from: { registry: pre, repository, reference: 'nope' }, to: { registry: prod, repository, tag: 'y' } },
      { attempts: 3, backoffMs: 10, timeoutMs: 30_000 },
      (l) => logs.push(l),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PromotionFailedError);
    expect((err as PromotionFailedError).attempts).toBe(1);
    expect((err as Error).message).toBe(
      `registry ${pre}: GET manifest ${repository}:nope answered 404: MANIFEST_UNKNOWN: manifest unknown; not retried (trying again cannot help)`,
    );
    expect(logs).toEqual([]);
  });

  it('stops at its deadline: requests in flight are aborted and no attempt starts after it', async () => {
    // A registry that accepts the connection and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const started = Date.now();
    try {
      const err = await promoteWithRetries(
        { from: { registry: host, repository, reference: 'a' }, to: { registry: prod, repository, tag: 'z' } },
        { attempts: 5, backoffMs: 10, timeoutMs: 1_500 },
        () => undefined,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PromotionFailedError);
      expect((err as Error).message).toContain('promotion deadline of 1.5 s passed');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
