import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A free loopback port (bind 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * `git daemon` serving every repository under `base` on 127.0.0.1 (read-only, git:// protocol).
 * stop() kills exactly the daemon this started (its own process group).
 */
export async function startGitDaemon(base: string): Promise<{ url: (repo: string) => string; stop: () => void }> {
  const port = await freePort();
  const child = spawn('git', ['daemon', '--reuseaddr', '--export-all', '--listen=127.0.0.1', `--port=${port}`, `--base-path=${base}`, base], {
    stdio: 'ignore',
    detached: true,
  });
  const stop = (): void => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
  };
  const url = (repo: string): string => `git://127.0.0.1:${port}/${repo}`;
  const deadline = Date.now() + 10_000;
  // Ready once the daemon holds the port.
  while (!(await portOpen(port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      stop();
      throw new Error('git daemon did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}
