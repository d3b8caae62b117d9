import type { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';

/**
 * Re-emits a tar with one more file at the end: how a built-in template's Dockerfile joins a
 * build context streamed from `git archive`, without checking the tree out.
 */
export function withExtraFile(tar: Readable, name: string, content: string): Readable {
  const ex = extract();
  const out = pack();
  ex.on('entry', (header, stream, next) => {
    stream.pipe(out.entry(header, next));
  });
  ex.on('finish', () => {
    out.entry({ name, mode: 0o644 }, content);
    out.finalize();
  });
  ex.on('error', (err) => out.destroy(err));
  tar.on('error', (err) => ex.destroy(err));
  tar.pipe(ex);
  return out as unknown as Readable;
}
