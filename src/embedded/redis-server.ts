import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { PermanentError } from '../errors/errors.js';

export interface EmbeddedRedis {
  /** ioredis/BullMQ connection options for the unix socket. */
  socketPath: string;
  stop(): Promise<void>;
}

/**
 * The embedded default: with no REDIS_URL, Slipway runs its own redis-server on a unix socket under
 * the data dir (no port to collide with, not reachable from build containers on the host network).
 * AOF with fsync on every write, so a webhook acknowledged is a webhook on disk; noeviction, so
 * BullMQ never loses keys under memory pressure.
 */
export async function startEmbeddedRedis(dataDir: string, log: (msg: string) => void): Promise<EmbeddedRedis> {
  const dir = path.join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const socketPath = path.join(dir, 'redis.sock');
  const pidFile = path.join(dir, 'redis.pid');

  if (await answers(socketPath)) {
    log(`embedded redis already running on ${socketPath}`);
    return {
      socketPath,
      stop: async () => {
        /* not ours to stop: another Slipway process started it */
      },
    };
  }
  if (!hasRedisServer()) {
    throw new PermanentError('redis-server not found: install the Debian package redis-server (apt-get install redis-server) or set REDIS_URL');
  }
  const args = [
    '--port',
    '0',
    '--unixsocket',
    socketPath,
    '--unixsocketperm',
    '700',
    '--dir',
    dir,
    '--pidfile',
    pidFile,
    '--logfile',
    path.join(dir, 'redis.log'),
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--daemonize',
    'no',
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore', detached: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 15_000;
  while (!(await answers(socketPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new PermanentError(`embedded redis-server did not start: see ${path.join(dir, 'redis.log')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  log(`embedded redis started on ${socketPath}`);
  return {
    socketPath,
    async stop() {
      // SHUTDOWN makes redis fsync the AOF before it exits.
      const c = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 1 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.shutdown('NOSAVE').catch(() => undefined);
      } catch {
        child.kill('SIGTERM');
      } finally {
        c.disconnect();
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    },
  };
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function answers(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return false;
  const c = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  c.on('error', () => undefined); // a probe: failure is the answer
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}
