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
