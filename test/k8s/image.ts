// Builds FROM-scratch HTTP images (a static busybox running httpd) and pushes them to the test bed's
// registry, as Slipway's build worker pushes to Harbor; the kubelet then pulls them like a production node.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, copyFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const HTTP_PORT = 8080;

export interface ImageBuild {
  readonly dockerHost: string;
  readonly registry: string;
  readonly busybox: string;
}

/** Builds `<registry>/slipway-test/web:<tag>` whose `/` answers `body`, pushes it and returns its reference. */
export async function buildWebImage(b: ImageBuild, tag: string, body: string): Promise<string> {
  const ref = `${b.registry}/slipway-test/web:${tag}`;
  const ctx = await mkdtemp(join(tmpdir(), 'slipway-k8s-img-'));
  try {
    await mkdir(join(ctx, 'www'));
    await copyFile(b.busybox, join(ctx, 'busybox'));
    await writeFile(join(ctx, 'www', 'index.html'), body);
    await writeFile(
      join(ctx, 'Dockerfile'),
      ['FROM scratch', 'COPY busybox /bin/busybox', 'COPY www /www', `CMD ["/bin/busybox", "httpd", "-f", "-p", "${HTTP_PORT}", "-h", "/www"]`, ''].join('\n'),
    );
    const env = { ...process.env, DOCKER_BUILDKIT: '0' };
    await run('docker', ['-H', b.dockerHost, 'build', '-q', '-t', ref, ctx], { env, timeout: 120_000 });
    await run('docker', ['-H', b.dockerHost, 'push', ref], { env, timeout: 120_000 });
    // The builder is node a's engine: drop the local copy so that its kubelet pulls from the registry too.
    await run('docker', ['-H', b.dockerHost, 'rmi', ref], { env, timeout: 60_000 });
    return ref;
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/** The base image of the example services (`.ci/services.sh base-image`: static busybox, FROM scratch). */
export const BASE_IMAGE = 'slipway/busybox:1';

/**
 * Makes `BASE_IMAGE` on the engine at `dockerHost` when it lacks it: there is no Docker Hub here, and a
 * running Slipway that builds on node a's engine needs it for its test containers and `FROM` lines.
 */
export async function ensureBaseImage(b: Pick<ImageBuild, 'dockerHost' | 'busybox'>): Promise<void> {
  const env = { ...process.env, DOCKER_BUILDKIT: '0' };
  const docker = (args: string[], timeout = 120_000) => run('docker', ['-H', b.dockerHost, ...args], { env, timeout });
  if (
    await docker(['image', 'inspect', BASE_IMAGE], 20_000).then(
      () => true,
      () => false,
    )
  )
    return;
  const ctx = await mkdtemp(join(tmpdir(), 'slipway-k8s-base-'));
  try {
    await copyFile(b.busybox, join(ctx, 'busybox'));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n');
    await docker(['build', '-q', '-t', BASE_IMAGE, ctx]);
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/**
 * Builds `<registry>/slipway-test/metrics:<tag>`: `/` answers `body`, and `/cgi-bin/metrics` (a busybox
 * shell CGI script) exports `http_requests_total` counters that grow with the clock, `okPerSecond`
 * 200s and `errorsPerSecond` 500s: what Prometheus scrapes from the pods of a good or a bad version.
 */
export async function buildMetricsImage(b: ImageBuild, tag: string, body: string, rates: { okPerSecond: number; errorsPerSecond: number }): Promise<string> {
  const ref = `${b.registry}/slipway-test/metrics:${tag}`;
  const ctx = await mkdtemp(join(tmpdir(), 'slipway-k8s-img-'));
  try {
    await mkdir(join(ctx, 'www', 'cgi-bin'), { recursive: true });
    await copyFile(b.busybox, join(ctx, 'busybox'));
    await writeFile(join(ctx, 'www', 'index.html'), body);
    await writeFile(
      join(ctx, 'www', 'cgi-bin', 'metrics'),
      [
        '#!/bin/busybox sh',
        'read up rest < /proc/uptime',
        's=${up%.*}',
        'echo "Content-Type: text/plain; version=0.0.4"',
        'echo',
        'echo "# TYPE http_requests_total counter"',
        `echo "http_requests_total{code=\\"200\\"} $((s * ${rates.okPerSecond}))"`,
        `echo "http_requests_total{code=\\"500\\"} $((s * ${rates.errorsPerSecond}))"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    await writeFile(
      join(ctx, 'Dockerfile'),
      ['FROM scratch', 'COPY busybox /bin/busybox', 'COPY www /www', `CMD ["/bin/busybox", "httpd", "-f", "-p", "${HTTP_PORT}", "-h", "/www"]`, ''].join('\n'),
    );
    const env = { ...process.env, DOCKER_BUILDKIT: '0' };
    await run('docker', ['-H', b.dockerHost, 'build', '-q', '-t', ref, ctx], { env, timeout: 120_000 });
    await run('docker', ['-H', b.dockerHost, 'push', ref], { env, timeout: 120_000 });
    await run('docker', ['-H', b.dockerHost, 'rmi', ref], { env, timeout: 60_000 });
    return ref;
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/**
 * Pushes `BASE_IMAGE` (busybox with its applets in /bin: sh, tar, head, sleep) to the test bed's
 * registry as `<registry>/slipway-test/busybox:1` and returns that reference: what step Pods and the
 * Kubernetes executor's helper containers run.
 */
export async function pushBaseImage(b: ImageBuild): Promise<string> {
  await ensureBaseImage(b);
  const ref = `${b.registry}/slipway-test/busybox:1`;
  const env = { ...process.env, DOCKER_BUILDKIT: '0' };
  await run('docker', ['-H', b.dockerHost, 'tag', BASE_IMAGE, ref], { env, timeout: 30_000 });
  await run('docker', ['-H', b.dockerHost, 'push', ref], { env, timeout: 120_000 });
  return ref;
}
