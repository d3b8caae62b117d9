import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { extractTar } from '../git/tar-extract.js';
import { execInPod } from './pod-exec.js';

export interface PodTarget {
  namespace: string;
  pod: string;
  container: string;
}

/**
 * Copies the local directory `source` into `dest` inside the Pod: GNU tar (argv, no shell) packs it
 * into a temporary file so its size is known, and the helper container reads exactly that many
 * bytes (`head -c`) into `tar -x`; see execInPod for why stdin is never closed.
 */
export async function copyIntoPod(kc: KubeConfig, target: PodTarget, source: string, dest: string, timeoutMs: number): Promise<void> {
  const info = await stat(source).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`mount source ${source} is not a directory on this build node`);
  const tmp = await mkdtemp(join(tmpdir(), 'slipway-pod-in-'));
  try {
    const file = join(tmp, 'workspace.tar');
    await runTar(['--create', '--file', file, '--directory', source, '.'], timeoutMs);
    const { size } = await stat(file);
    const what = `copying ${source} into pod ${target.pod}`;
    // Slipway's own fixed shell code; the size and the directory arrive as positional arguments.
    const r = await execInPod(kc, target, ['sh', '-c', 'head -c "$1" | tar -x -f - -C "$2"', 'sh', String(size), dest], {
      stdin: createReadStream(file),
      timeoutMs,
      what,
    });
    if (r.exitCode !== 0) throw new Error(`${what}: exit ${r.exitCode}${r.stderr ? `: ${r.stderr}` : ''}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Replaces the contents of the local directory `dest` with `source` from inside the Pod, as a bind
 * mount would have left it. The tar is the step's (repository code's) output: it is extracted by
 * extractTar, which refuses entries outside `dest` and through symlinks.
 */
export async function copyOutOfPod(kc: KubeConfig, target: PodTarget, source: string, dest: string, timeoutMs: number): Promise<void> {
  const what = `copying ${source} out of pod ${target.pod}`;
  const tar = new PassThrough();
  const extracting = extractTarInto(tar, dest);
  let r: Awaited<ReturnType<typeof execInPod>>;
  try {
    r = await execInPod(kc, target, ['tar', '-c', '-f', '-', '-C', source, '.'], { stdout: tar, timeoutMs, what });
  } catch (err) {
    tar.end();
    await extracting.catch(() => undefined);
    throw err;
  }
  tar.end();
  await extracting;
  if (r.exitCode !== 0) throw new Error(`${what}: exit ${r.exitCode}${r.stderr ? `: ${r.stderr}` : ''}`);
}

async function extractTarInto(tar: PassThrough, dest: string): Promise<void> {
  // What the step deleted must be gone here too: empty the directory, keep the directory itself.
  for (const entry of await readdir(dest)) await rm(join(dest, entry), { recursive: true, force: true });
  await extractTar(tar, dest);
}

function runTar(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('tar', args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, _out, stderr) => {
      if (!err) return resolve();
      reject(new Error(`tar ${args[0] ?? ''}: ${err.killed ? `timed out after ${timeoutMs}ms` : stderr.trim().slice(0, 500)}`));
    });
  });
}
