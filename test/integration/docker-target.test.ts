import { createServer } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { DeployFailedError } from '../../src/deploy/deploy-errors.js';
import { createDockerTarget, currentRelease, deployRelease, type DeployReleaseOptions } from '../../src/deploy/docker-target.js';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { dockerStatus } from '../../src/executors/docker-errors.js';
import { splitTag } from '../../src/images/build-options.js';
import { pushImage } from '../../src/images/image-push.js';
import { baseImageFromEnv, dockerFromEnv, registryFromEnv, slotPortBase, uniqueId } from '../helpers/services.js';

const docker = dockerFromEnv();
const service = `web-${uniqueId()}`;
const environment = 'pre';
const basePort = slotPortBase(0);

// busybox httpd serves a page naming the release on the slot's $PORT.
const serve = ['/bin/sh', '-c', 'mkdir -p /www && echo "$RELEASE" > /www/index.html && echo "serving $RELEASE" && exec httpd -f -p "127.0.0.1:$PORT" -h /www'];

function release(name: string, over: Partial<DeployReleaseOptions> = {}): DeployReleaseOptions {
  return {
    service,
    environment,
    image: baseImageFromEnv(),
    command: serve,
    env: { RELEASE: name },
    basePort,
    healthPath: '/index.html',
    healthTimeoutMs: 10_000,
    runId: `run-${name}`,
    onLog: () => undefined,
    ...over,
  };
}

async function page(url: string): Promise<string> {
  const res = await fetch(`${url}/index.html`, { signal: AbortSignal.timeout(5_000) });
  return (await res.text()).trim();
}

async function gone(id: string): Promise<boolean> {
  return docker
    .getContainer(id)
    .inspect()
    .then(
      () => false,
      (err: unknown) => dockerStatus(err) === 404,
    );
}

afterAll(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});

describe('docker target blue/green (real engine)', { timeout: 60_000 }, () => {
  let a = { containerId: '', url: '' };
  let b = { containerId: '', url: '' };

  it('deploys release A to the blue slot', async () => {
    expect(await currentRelease(docker, service, environment)).toBeNull();
    const r = await deployRelease(docker, release('A'));
    expect(r).toMatchObject({ slot: 'blue', url: `http://127.0.0.1:${basePort}` });
    expect(r.replaced).toBeUndefined();
    expect(await page(r.url)).toBe('A');
    a = r;
    expect(await currentRelease(docker, service, environment)).toMatchObject({ runId: 'run-A', url: r.url, slot: 'blue' });
    const info = await docker.getContainer(r.containerId).inspect();
    expect(info.HostConfig.RestartPolicy?.Name).toBe('unless-stopped');
  });

  it('returns the live release when the same run deploys again', async () => {
    const r = await deployRelease(docker, release('A'));
    expect(r).toEqual({ url: a.url, slot: 'blue', containerId: a.containerId });
  });

  it('deploys release B to the other slot and removes A', async () => {
    const r = await deployRelease(docker, release('B'));
    expect(r).toMatchObject({ slot: 'green', url: `http://127.0.0.1:${basePort + 1}`, replaced: 'run-A' });
    expect(await page(r.url)).toBe('B');
    expect(await gone(a.containerId)).toBe(true);
    b = r;
  });

  it('keeps B serving when C fails its health check (404)', async () => {
    const failed = deployRelease(docker, release('C', { healthPath: '/healthz', healthTimeoutMs: 2_000 }));
    await expect(failed).rejects.toBeInstanceOf(DeployFailedError);
    await expect(failed).rejects.toThrow(/GET http:\/\/127\.0\.0\.1:\d+\/healthz did not pass within 2000ms: answered HTTP 404/);
    expect(await page(b.url)).toBe('B');
    expect(await currentRelease(docker, service, environment)).toMatchObject({ runId: 'run-B', containerId: b.containerId });
  });

  it('keeps B serving when D exits, and reports the exit code and its last logs', async () => {
    const crash = ['/bin/sh', '-c', 'echo "boom: config missing" >&2; exit 3'];
    const failed = deployRelease(docker, release('D', { command: crash }));
    await expect(failed).rejects.toThrow(/container exited with code 3; last log lines:\n.*boom: config missing/);
    expect(await page(b.url)).toBe('B');
    expect(await currentRelease(docker, service, environment)).toMatchObject({ runId: 'run-B' });
    const left = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    expect(left.map((c) => c.Id)).toEqual([b.containerId]);
  });

  it('says "connection refused" when the release never listens', async () => {
    const deaf = ['/bin/sh', '-c', 'sleep 60'];
    await expect(deployRelease(docker, release('E', { command: deaf, healthTimeoutMs: 1_500 }))).rejects.toThrow(
      /did not pass within 1500ms: connection refused/,
    );
    expect(await currentRelease(docker, service, environment)).toMatchObject({ runId: 'run-B' });
  });

  it('refuses a slot port held by a foreign process', async () => {
    const other = `web-${uniqueId()}`;
    const port = basePort + 100;
    const server = createServer((_req, res) => res.end('not ours'));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      await expect(deployRelease(docker, release('F', { service: other, basePort: port }))).rejects.toThrow(`slot port ${port} is already in use`);
    } finally {
      server.close();
    }
  });
  describe('through the DeployTarget seam', () => {
    const target = createDockerTarget(docker);
    const spec = (name: string, image: string): ReleaseSpec => ({
      service,
      environment,
      image,
      command: serve,
      env: { RELEASE: name },
      port: basePort,
      healthPath: '/index.html',
      runId: `run-${name}`,
    });
    let byDigest = '';

    it('describes the live release: its run, the image by digest, and its address', async () => {
      // Deployed by digest, as the deploy job does with the image job's push.
      const repo = `${registryFromEnv()}/slipway-test/target-${uniqueId()}`;
      await docker.getImage(baseImageFromEnv()).tag(splitTag(`${repo}:1`));
      const { digest } = await pushImage(docker, { image: repo, tag: '1', onLog: () => undefined, timeoutMs: 60_000 });
      byDigest = `${repo}@${digest}`;
      const release = await target.apply(spec('G', byDigest), () => undefined);
      expect(release).toMatchObject({ alreadyLive: false, replaces: 'run-B' });
      expect(await target.waitForVerdict(release, { timeoutMs: 10_000, onLog: () => undefined })).toEqual({ healthy: true });
      expect(await target.describe(service, environment)).toEqual({ runId: 'run-G', image: byDigest, digest, url: release.url });
      expect(await page(release.url)).toBe('G');
    });

    it('rolls back a started release: the live one serves on and describe still names it', async () => {
      const release = await target.apply(spec('H', byDigest), () => undefined);
      await target.rollBack(release, () => undefined);
      await target.rollBack(release, () => undefined); // twice is fine
      expect(await gone(release.id)).toBe(true);
      expect(await target.describe(service, environment)).toMatchObject({ runId: 'run-G' });
    });

    it('describes nothing for an environment that never had a release', async () => {
      expect(await target.describe(service, 'never')).toBeNull();
    });
  });
});
