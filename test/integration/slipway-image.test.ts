import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readConfig } from '../../src/config/config.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { parseExposition, valueOf } from '../helpers/prometheus-text.js';
import { dockerFromEnv, uniqueId } from '../helpers/services.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const IMAGE = 'slipway/slipway:test';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// Issue 14: Slipway as an image, built here from a locally made base (no Docker Hub), started with
// the HTTP role on the services' Redis, takes a real GitLab delivery.
describe('the Slipway image', () => {
  const docker: Docker = dockerFromEnv();
  const id = uniqueId();
  const prefix = `image-${id}`;
  const secret = `hook-secret-${id}`;
  const apiToken = `api-token-${id}-0123456789`;
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390';
  let container: Docker.Container | undefined;
  let url = '';

  beforeAll(async () => {
    // Cold (base + every layer) ~3 min on a busy 2-core machine; with the layer cache well under one.
    await promisify(execFile)('bash', [path.join(ROOT, '.ci/slipway-image.sh'), 'build', IMAGE], { timeout: 420_000 });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    container = await docker.createContainer({
      Image: IMAGE,
      name: `slipway-image-test-${id}`,
      Env: [
        'SLIPWAY_ROLES=http',
        'SLIPWAY_HOST=127.0.0.1',
        `SLIPWAY_PORT=${port}`,
        `REDIS_URL=${redisUrl}`,
        `SLIPWAY_REDIS_PREFIX=${prefix}`,
        'GITLAB_URL=http://127.0.0.1:9',
        'GITLAB_TOKEN=unused-by-the-http-role',
        `SLIPWAY_WEBHOOK_SECRET=${secret}`,
        `SLIPWAY_API_TOKEN=${apiToken}`,
      ],
      HostConfig: { NetworkMode: 'host' },
    });
    await container.start();
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 60_000);
  }, 480_000);

  afterAll(async () => {
    await container?.remove({ force: true, v: true }).catch(() => undefined);
    // The services' Redis is shared: take this test's keys with it.
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  it('runs as a non-root user with a health check on /healthz', async () => {
    const info = await docker.getImage(IMAGE).inspect();
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.Healthcheck?.Test?.join(' ')).toContain('/healthz');
    expect(info.Config.Cmd).toEqual(['node', 'dist/src/main.js']);
    const { stdout } = await promisify(execFile)('docker', [
      '-H',
      process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock',
      'exec',
      container?.id ?? '',
      'git',
      '--version',
    ]);
    expect(stdout).toMatch(/^git version \d/);
    await eventually(async () => expect((await container?.inspect())?.State.Health?.Status).toBe('healthy'), 60_000);
  }, 90_000);

  it('answers a real GitLab delivery with 202 and keeps the run', async () => {
    const res = await deliver(url, 'Push Hook', fixture('push-hook.json'), secret);
    expect(res.status).toBe(202);
    const runId = String(res.json['runId']);
    expect(runId).toMatch(/\S/);
    const run = await fetch(`${url}/api/runs/${runId}`, { headers: { Authorization: `Bearer ${apiToken}` } });
    expect(run.status).toBe(200);
    expect(((await run.json()) as { status: { phase: string } }).status.phase).toBe('received');
    expect((await deliver(url, 'Push Hook', fixture('push-hook.json'), 'not-the-secret')).status).toBe(401);
    const metrics = await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${apiToken}` } });
    const samples = parseExposition(await metrics.text());
    expect(valueOf(samples, 'slipway_webhooks_received_total', { event: 'Push Hook' })).toBe(2);
    expect(valueOf(samples, 'slipway_webhooks_rejected_total', { reason: 'token_invalid' })).toBe(1);
  });
});

// Debian's docker-compose (1.29) validates the file that runs the image as four role services.
describe.skipIf(!existsSync('/usr/bin/docker-compose'))('docker-compose.yml', () => {
  it('is valid and runs the image as http, planner, build and deploy services with Redis and a registry', async () => {
    const env = {
      ...process.env,
      GITLAB_URL: 'https://gitlab.example.com',
      GITLAB_TOKEN: 'glpat-example',
      SLIPWAY_WEBHOOK_SECRET: 'hook-secret',
      SLIPWAY_API_TOKEN: 'api-token-0123456789',
      SLIPWAY_VARIABLES_KEY: 'a'.repeat(64),
      SLIPWAY_METRICS_TOKEN: 'metrics-token-0123456789',
    };
    const { stdout } = await promisify(execFile)('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], { env });
    const config = parse(stdout) as { services: Record<string, { image: string; environment?: Record<string, string> }> };
    expect(Object.keys(config.services).sort()).toEqual(['build', 'deploy', 'http', 'planner', 'redis', 'registry']);
    const ports = new Set<string>();
    for (const role of ['http', 'planner', 'build', 'deploy']) {
      const service = config.services[role];
      expect(service?.image).toBe('slipway/slipway:dev');
      expect(service?.environment?.['SLIPWAY_ROLES']).toBe(role);
      // Every setting the process reads is valid, as Slipway itself checks it at start.
      const result = readConfig(service?.environment ?? {});
      expect(result.ok ? [] : result.problems).toEqual([]);
      ports.add(service?.environment?.['SLIPWAY_METRICS_PORT'] ?? '');
    }
    // Host networking: each process needs a metrics port of its own.
    expect(ports.size).toBe(4);
    // Without the shared secrets, compose refuses with the name of the missing one.
    const missing = await promisify(execFile)('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config'], {
      env: { ...env, SLIPWAY_VARIABLES_KEY: '' },
    }).catch((err: { stderr: string }) => err);
    expect('stderr' in missing ? missing.stderr : '').toContain('set SLIPWAY_VARIABLES_KEY in .env');
  });
});
