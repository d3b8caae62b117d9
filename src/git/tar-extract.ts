import { createWriteStream } from 'node:fs';
import { mkdir, realpath, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';

/**
 * Extracts files, directories and symlinks of a tar into `dest`. Entry names
 * that would land outside `dest` ('..', absolute paths, or a path through a
 * symlink pointing elsewhere) are refused: the tar comes from repository
 * content, which we do not trust with the worker's file system.
 */
export async function extractTar(tar: Readable, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  const root = await realpath(dest);
  const ex = extract();
  const feeding = pipeline(tar, ex);
  try {
    for await (const entry of ex) {
      const { name, type, mode, linkname } = entry.header;
      const rel = posix.normalize(name).replace(/\/+$/, '');
      if (rel === '.' || rel === '') {
        entry.resume();
        continue;
      }
      const target = join(root, rel);
      if (isAbsolute(rel) || rel === '..' || rel.startsWith('../') || !isInside(root, target)) {
        throw new Error(`refusing tar entry outside the destination: ${JSON.stringify(name)}`);
      }
      await mkdir(dirname(target), { recursive: true });
      if (!isInside(root, await realpath(dirname(target)))) {
        throw new Error(`refusing tar entry through a symlink: ${JSON.stringify(name)}`);
      }
      if (type === 'directory') {
        await mkdir(target, { recursive: true });
        entry.resume();
      } else if (type === 'file') {
        await pipeline(entry, createWriteStream(target, { mode: (mode ?? 0o644) & 0o777 }));
      } else if (type === 'symlink' && linkname) {
        await symlink(linkname, target);
        entry.resume();
      } else {
        entry.resume(); // other types (devices, fifos) never come from git archive
      }
    }
  } finally {
    await feeding.catch(() => undefined);
  }
  await feeding;
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
