import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';

const PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/**
 * The file name a cache key is stored under. Keys come from pipeline files
 * (user input): a plain key is used as it is; anything else ("../x", "a/b",
 * spaces, 1,000 chars) becomes a readable part plus a hash of the whole key,
 * so it can never name a path outside the root and two keys never collide.
 */
export function entryName(key: string): string {
  if (key.length === 0) throw new Error('cache key is empty');
  if (key.includes('\0')) throw new Error('cache key contains a NUL byte');
  if (PLAIN.test(key)) return `${key}.tar`;
  const readable = key
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 60);
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `${readable || 'key'}-${hash}.tar`;
}

/** Absolute path of the key's entry, checked to sit directly in the root. */
export function entryPath(root: string, key: string): string {
  const absRoot = resolve(root);
  const path = resolve(join(absRoot, entryName(key)));
  if (dirname(path) !== absRoot) throw new Error(`cache key ${JSON.stringify(key)} escapes the cache root`);
  return path;
}
