import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { pack } from 'tar-stream';
import { extractTar } from '../../../src/git/tar-extract.js';

const base = mkdtempSync(join(tmpdir(), 'slipway-tar-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function tarOf(entries: Array<{ name: string; type?: 'file' | 'symlink'; body?: string; linkname?: string }>): Readable {
  const p = pack();
  for (const e of entries) {
    if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? '' });
    else p.entry({ name: e.name, mode: 0o755 }, e.body ?? '');
  }
  p.finalize();
  return Readable.from(p);
}

describe('extractTar', () => {
  it('writes files with their mode', async () => {
    const dest = join(base, 'ok');
    await extractTar(tarOf([{ name: 'a/b.sh', body: 'echo' }]), dest);
    expect(readFileSync(join(dest, 'a/b.sh'), 'utf8')).toBe('echo');
  });

  it.each(['../evil', '/abs/evil', 'a/../../evil'])('refuses %j', async (name) => {
    const dest = join(base, `bad-${Math.random()}`);
    await expect(extractTar(tarOf([{ name, body: 'x' }]), dest)).rejects.toThrow(/refusing tar entry/);
    expect(existsSync(join(base, 'evil'))).toBe(false);
  });

  it('refuses to write through a symlink that points outside', async () => {
    const dest = join(base, 'link');
    const tar = tarOf([
      { name: 'out', type: 'symlink', linkname: base },
      { name: 'out/evil2', body: 'x' },
    ]);
    await expect(extractTar(tar, dest)).rejects.toThrow(/through a symlink/);
    expect(existsSync(join(base, 'evil2'))).toBe(false);
  });
});
