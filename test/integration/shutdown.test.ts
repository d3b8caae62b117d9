import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startFakeGitlab, type FakeGitlab } from '../../src/standins/gitlab/gitlab-server.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('the slipway process', () => {
  let gitlab: FakeGitlab;
  let dataDir: string;
  beforeAll(async () => {
    gitlab = await startFakeGitlab();
    dataDir = mkdtempSync(path.join(tmpdir(), 'slipway-proc-'));
  });
  afterAll(async () => {
    await gitlab.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (env: Record<string, string>) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main.ts')], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, output: () => out };
  };

  it('refuses to start on bad configuration, naming every problem', async () => {
    const p = start({ GITLAB_URL: 'nope', SLIPWAY_PORT: 'x' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('GITLAB_URL must be an absolute URL');
    expect(p.output()).toContain('GITLAB_TOKEN');
    expect(p.output()).toContain('SLIPWAY_PORT');
  });

  it('stops in order on SIGTERM: exit 0, embedded Redis shut down with its data on disk', async () => {
    const p = start({
      GITLAB_URL: gitlab.url,
      GITLAB_TOKEN: gitlab.token,
      SLIPWAY_WEBHOOK_SECRET: 'hook-secret',
      SLIPWAY_DATA_DIR: dataDir,
      SLIPWAY_PORT: '0',
    });
    const deadline = Date.now() + 30_000;
    while (!p.output().includes('slipway listening')) {
      if (Date.now() > deadline) throw new Error(`did not start: ${p.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const socket = path.join(dataDir, 'redis', 'redis.sock');
    const probe = new Redis({ path: socket, lazyConnect: true });
    await probe.connect();
    await probe.set('slipway:probe', 'kept');
    probe.disconnect();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain('shutting down');
    expect(existsSync(path.join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
    const after = new Redis({ path: socket, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    after.on('error', () => undefined);
    await expect(after.connect()).rejects.toThrow();
    after.disconnect();
  });
});
