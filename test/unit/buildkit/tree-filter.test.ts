import { describe, expect, it } from 'vitest';
import type { TreeEntry } from '../../../src/buildkit/git-tree.js';
import { followPathIncludes, selectEntries } from '../../../src/buildkit/tree-filter.js';

const file = (path: string): TreeEntry => ({ path, kind: 'file', gitMode: '100644', oid: 'a'.repeat(40), size: 1 });
const dir = (path: string): TreeEntry => ({ path, kind: 'dir', gitMode: '040000', size: 0 });

// A context in walk order, as listTree returns it.
const context: TreeEntry[] = [
  file('.dockerignore'),
  file('Dockerfile'),
  file('Dockerfile.dev'),
  file('app.log'),
  file('keep.log'),
  dir('node_modules'),
  dir('node_modules/pkg'),
  file('node_modules/pkg/index.js'),
  file('node_modules/pkg/keep.log'),
  dir('src'),
  file('src/app.ts'),
  file('src/debug.log'),
];

const paths = (entries: readonly TreeEntry[]): string[] => entries.map((e) => e.path);

describe('selectEntries', () => {
  it('sends everything when the engine gives no patterns', () => {
    expect(paths(selectEntries(context, {}))).toEqual(paths(context));
    expect(paths(selectEntries(context, { include: [], exclude: [] }))).toEqual(paths(context));
  });

  it('applies exclude patterns with .dockerignore semantics', () => {
    const out = paths(selectEntries(context, { exclude: ['node_modules', '*.log', '!keep.log', '!node_modules/pkg/keep.log'] }));
    expect(out).toEqual([
      '.dockerignore',
      'Dockerfile',
      'Dockerfile.dev',
      // app.log is gone; keep.log is re-included by its exception.
      'keep.log',
      // The exception under the excluded node_modules brings its parent directories, not its siblings.
      'node_modules',
      'node_modules/pkg',
      'node_modules/pkg/keep.log',
      'src',
      'src/app.ts',
      // `*.log` is anchored at the context root, as in docker build.
      'src/debug.log',
    ]);
  });

  it('drops an excluded directory with everything under it when nothing is re-included', () => {
    const out = paths(selectEntries(context, { exclude: ['node_modules'] }));
    expect(out.filter((p) => p.startsWith('node_modules'))).toEqual([]);
    expect(out).toContain('src/app.ts');
  });

  it('with include patterns sends only what they name (and the directories leading to it)', () => {
    // What the Dockerfile frontend asks for first: the Dockerfile alone, not Dockerfile.dev.
    expect(paths(selectEntries(context, { include: ['Dockerfile'] }))).toEqual(['Dockerfile']);
    expect(paths(selectEntries(context, { include: ['src/app.ts'] }))).toEqual(['src', 'src/app.ts']);
    // A directory pattern includes its whole subtree; excludes still apply inside it.
    expect(paths(selectEntries(context, { include: ['src'] }))).toEqual(['src', 'src/app.ts', 'src/debug.log']);
    expect(paths(selectEntries(context, { include: ['src'], exclude: ['src/*.log'] }))).toEqual(['src', 'src/app.ts']);
  });

  it('always sends a parent directory before its children (the receiver creates them in order)', () => {
    const patternSets = [
      {},
      { exclude: ['node_modules', '*.log', '!node_modules/pkg/keep.log'] },
      { exclude: ['*', '!node_modules/pkg/index.js', '!src/debug.log'] },
      { include: ['node_modules/pkg/keep.log', 'src/app.ts'] },
    ];
    for (const opts of patternSets) {
      const out = paths(selectEntries(context, opts));
      out.forEach((p, i) => {
        for (let cut = p.lastIndexOf('/'); cut > 0; cut = p.lastIndexOf('/', cut - 1)) {
          const parent = p.slice(0, cut);
          expect(out.indexOf(parent), `${JSON.stringify(opts)}: ${parent} before ${p}`).toBeGreaterThanOrEqual(0);
          expect(out.indexOf(parent), `${JSON.stringify(opts)}: ${parent} before ${p}`).toBeLessThan(i);
        }
      });
    }
    // The case that needs parents added back: both files survive, with their directories.
    expect(paths(selectEntries(context, { exclude: ['*', '!node_modules/pkg/index.js', '!src/debug.log'] }))).toEqual([
      'node_modules',
      'node_modules/pkg',
      'node_modules/pkg/index.js',
      'src',
      'src/debug.log',
    ]);
  });

  it('follows a followpath that is a symlink to its target (a Dockerfile linked to docker/Dockerfile.prod)', () => {
    const link = (path: string, linkname: string): TreeEntry => ({
      path,
      kind: 'symlink',
      gitMode: '120000',
      oid: 'b'.repeat(40),
      size: linkname.length,
      linkname,
    });
    const tree = [
      link('Dockerfile', 'docker/Dockerfile.prod'),
      dir('docker'),
      link('docker/Dockerfile.prod', '../build/Dockerfile'),
      dir('build'),
      file('build/Dockerfile'),
      link('escape', '../../etc/passwd'),
      file('other'),
    ];
    const include = followPathIncludes(tree, ['Dockerfile', 'escape', 'missing']);
    expect(include).toEqual(['Dockerfile', 'docker/Dockerfile.prod', 'build/Dockerfile', 'escape', 'missing']);
    expect(paths(selectEntries(tree, { include }))).toEqual(['Dockerfile', 'docker', 'docker/Dockerfile.prod', 'build', 'build/Dockerfile', 'escape']);
  });
});
