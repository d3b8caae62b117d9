import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { TarIndexer } from '../../../src/images/tar-index.js';

/** Runs `archive` through the indexer in chunks of `chunk` bytes; returns each member's data as the offsets say. */
async function index(archive: Buffer, chunk: number): Promise<Record<string, string>> {
  const indexer = new TarIndexer();
  const parts: Buffer[] = [];
  for (let i = 0; i < archive.length; i += chunk) parts.push(archive.subarray(i, i + chunk));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(parts),
    indexer,
    new Writable({
      write: (c: Buffer, _e, done) => {
        out.push(c);
        done();
      },
    }),
  );
  expect(Buffer.concat(out).equals(archive)).toBe(true); // passed through unchanged
  return Object.fromEntries(
    indexer.members.map((m) => [m.type === 'symlink' ? `${m.name} -> ${m.linkname}` : m.name, archive.subarray(m.offset, m.offset + m.size).toString()]),
  );
}

async function packed(entries: Array<{ name: string; body?: string; linkname?: string }>): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    if (e.linkname) p.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else p.entry({ name: e.name }, e.body ?? '');
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('TarIndexer', () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(120)}.json`;
  const entries = [
    { name: 'abc/layer.tar', body: 'x'.repeat(1500) },
    { name: 'empty', body: '' },
    { name: long, body: '{"long":true}' },
    { name: 'def/layer.tar', linkname: '../abc/layer.tar' },
    { name: 'manifest.json', body: '[{"Config":"c.json","Layers":["abc/layer.tar"]}]' },
  ];

  it.each([1, 7, 511, 512, 513, 4096, 1 << 20])('finds every member, its data and links, read in chunks of %i bytes', async (chunk) => {
    const found = await index(await packed(entries), chunk);
    expect(found).toEqual({
      'abc/layer.tar': 'x'.repeat(1500),
      empty: '',
      [long]: '{"long":true}',
      'def/layer.tar -> ../abc/layer.tar': '',
      'manifest.json': '[{"Config":"c.json","Layers":["abc/layer.tar"]}]',
    });
  });

  it("reads GNU tar's long names (type L) and pax headers (type x)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-tar-index-'));
    try {
      const deep = join('a'.repeat(90), 'b'.repeat(90));
      mkdirSync(join(dir, deep), { recursive: true });
      writeFileSync(join(dir, deep, `${'n'.repeat(80)}.txt`), 'gnu');
      writeFileSync(join(dir, 'short.txt'), 'short');
      const name = `${deep}/${'n'.repeat(80)}.txt`;
      for (const format of ['gnu', 'pax']) {
        const archive = execFileSync('tar', ['-C', dir, `--format=${format}`, '-cf', '-', 'short.txt', name]);
        expect(await index(archive, 333)).toEqual({ 'short.txt': 'short', [name]: 'gnu' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("hashes each file's data as it passes, and says so as each file ends", async () => {
    const seen: string[] = [];
    const indexer = new TarIndexer((m) => seen.push(`${m.name} ${m.digest}`));
    await pipeline(Readable.from([await packed(entries)]), indexer, new Writable({ write: (_c, _e, done) => done() }));
    const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
    expect(seen).toEqual([
      `abc/layer.tar ${sha('x'.repeat(1500))}`,
      `empty ${sha('')}`,
      `${long} ${sha('{"long":true}')}`,
      `manifest.json ${sha('[{"Config":"c.json","Layers":["abc/layer.tar"]}]')}`,
    ]);
  });

  it('refuses a stream that is not a tar', async () => {
    await expect(index(Buffer.alloc(0), 10)).rejects.toThrow(/not a tar archive/);
  });
});
