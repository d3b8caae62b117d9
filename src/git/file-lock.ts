import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';

/**
 * A cross-process lock file created with O_EXCL ('wx'). The content names
 * the holder (pid, host, token). A lock whose pid is dead on this host is
 * stale (a crashed worker) and is broken; a lock from another host is never
 * broken by guess, the waiter times out instead and says who holds it.
 */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

// A holder that crashed between create and write leaves an empty file;
// after this long it counts as stale.
const EMPTY_STALE_MS = 10_000;

export async function withFileLock<T>(lockPath: string, opts: { timeoutMs: number; pollMs?: number }, fn: () => Promise<T>): Promise<T> {
  const token = await acquire(lockPath, opts.timeoutMs, opts.pollMs ?? 50);
  try {
    return await fn();
  } finally {
    await release(lockPath, token);
  }
}

async function acquire(lockPath: string, timeoutMs: number, pollMs: number): Promise<string> {
  const me: Holder = { pid: process.pid, host: hostname(), token: randomUUID() };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      return me.token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const content = await readFile(lockPath, 'utf8').catch(() => undefined);
    if (content === undefined) continue; // released meanwhile: try again now
    if (await isStale(lockPath, content)) {
      await breakStale(lockPath, content);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LockTimeoutError(`lock ${lockPath} still held after ${timeoutMs}ms by ${content || 'unknown'}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function isStale(lockPath: string, content: string): Promise<boolean> {
  const holder = parse(content);
  if (!holder) {
    const info = await stat(lockPath).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > EMPTY_STALE_MS;
  }
  if (holder.host !== hostname()) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Two waiters may judge the same lock stale at once. Renaming it aside is
 * atomic, so only one of them takes it; if what we took aside is not the
 * stale lock we judged (someone re-locked meanwhile), put it back with
 * link(), which fails rather than overwrite a newer lock.
 */
async function breakStale(lockPath: string, judged: string): Promise<void> {
  const aside = `${lockPath}.stale-${randomUUID()}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else moved it first
  }
  const taken = await readFile(aside, 'utf8').catch(() => '');
  if (taken !== judged) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

async function release(lockPath: string, token: string): Promise<void> {
  const content = await readFile(lockPath, 'utf8').catch(() => '');
  if (parse(content)?.token === token) await unlink(lockPath).catch(() => undefined);
}

function parse(content: string): Holder | undefined {
  try {
    const v = JSON.parse(content) as Partial<Holder>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, host: v.host, token: v.token };
    }
  } catch {
    // empty or torn write
  }
  return undefined;
}
