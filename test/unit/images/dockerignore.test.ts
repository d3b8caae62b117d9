import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { extract, pack } from 'tar-stream';
import { filterContext, isIgnored, parseDockerignore } from '../../../src/images/dockerignore.js';

describe('.dockerignore', () => {
  const rules = parseDockerignore('# secrets stay out\nsecrets\n*.log\n!keep.log\n/node_modules\n**/*.tmp\n\n');

  it('follows docker build: root-relative patterns, directories, exceptions, ** anywhere', () => {
    const ignored = ['secrets', 'secrets/db.env', 'x.log', 'node_modules/a/b.js', 'a/b/c.tmp'];
    const kept = ['keep.log', 'sub/x.log', 'src/app.ts', 'secretsfile'];
    for (const p of ignored) expect(isIgnored(rules, p), p).toBe(true);
    for (const p of kept) expect(isIgnored(rules, p), p).toBe(false);
  });

  it('drops ignored entries from a context tar but always keeps the Dockerfile', async () => {
    const p = pack();
    for (const name of ['Dockerfile', 'app.js', 'secrets/db.env', 'debug.log', 'keep.log']) p.entry({ name }, `${name}\n`);
    p.finalize();
    const names: string[] = [];
    const ex = extract();
    ex.on('entry', (h, s, next) => {
      names.push(h.name);
      s.on('end', next);
      s.resume();
    });
    const done = new Promise<void>((r) => ex.on('finish', () => r()));
    filterContext(p as unknown as Readable, parseDockerignore('*\n!app.js\n!keep.log\n'), ['Dockerfile']).pipe(ex);
    await done;
    expect(names).toEqual(['Dockerfile', 'app.js', 'keep.log']);
  });
});
