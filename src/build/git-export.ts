import { PassThrough, type Readable } from 'node:stream';
import { killGroup, redact, spawnGit } from './git-exec.js';
import { assertSha } from './sha.js';
import { extractTar } from './tar-extract.js';

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * A tar of the tree at `sha` (no .git), streamed straight from
 * `git archive`, e.g. as an image build context. Reading objects needs no
 * lock: they are immutable and fetch/gc only add or pack them. If git fails
 * or the timeout passes, the stream is destroyed with the error, so the
 * consumer (docker build, extractor) sees it instead of a truncated tar.
 */
export function archiveStream(opts: { mirrorDir: string; sha: string; timeoutMs?: number }): Readable {
  const sha = assertSha(opts.sha);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const out = new PassThrough();
  const child = spawnGit(['--git-dir', opts.mirrorDir, 'archive', '--format=tar', sha]);
  let stderr = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += c.toString('utf8');
  });
  child.stdout?.pipe(out, { end: false });
  // A consumer that stops early must not leave git running.
  out.on('close', () => killGroup(child));
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code) => {
    clearTimeout(timer);
    if (code === 0 && !timedOut) out.end();
    else {
      const why = timedOut ? `timed out after ${timeoutMs}ms` : `exit ${code}: ${redact(stderr.trim())}`;
      out.destroy(new Error(`git archive ${sha} ${why}`));
    }
  });
  return out;
}

/** Writes the tree at `sha` into `dest` (created if missing): a work tree for one run. */
export async function exportTree(opts: { mirrorDir: string; sha: string; dest: string; timeoutMs?: number }): Promise<void> {
  await extractTar(archiveStream(opts), opts.dest);
}
