import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prng } from '../../../bench/prng.js';
import { parseDockerignore } from '../../../src/images/dockerignore.js';
import { isIgnored as referenceIsIgnored, parseDockerignore as referenceParse } from '../../reference/dockerignore.js';

// Differential test: .dockerignore files and context paths generated (seeded, so a failure replays)
// from a small alphabet, so that patterns often match; @balena/dockerignore (src/) against the old
// hand-written matcher (test/reference/). Where they differ, docs/decisions.md says why.

function generator(seed: number, segments: readonly string[]) {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const PATH = ['a', 'b', 'ab', 'a.b', 'x.log', '.env', 'node_modules', 'c', 'A', 'é'];
  const line = () => {
    let p = Array.from({ length: 1 + int(3) }, () => pick(segments)).join('/');
    const r = rnd();
    if (r < 0.1) p = `/${p}`;
    else if (r < 0.15) p = `./${p}`;
    if (rnd() < 0.1) p += '/';
    if (rnd() < 0.25) p = `!${p}`;
    if (rnd() < 0.05) p = ` ${p}\t`;
    // A comment is a line starting with `#`; an indented `#` is a pattern in docker (see below).
    if (rnd() < 0.05) p = `# ${p}`;
    return p;
  };
  return {
    file: () => Array.from({ length: 1 + int(5) }, line).join(rnd() < 0.1 ? '\r\n' : '\n') + (rnd() < 0.3 ? '\n\n' : ''),
    path: () => Array.from({ length: 1 + int(4) }, () => pick(PATH)).join('/'),
  };
}

const SEGMENTS = ['a', 'b', 'ab', 'a.b', '*.log', '.env', 'node_modules', '*', '?', '**', 'a*', '*b', 'a?b', '[ab]', '[^a]b', 'x.log', 'A', 'é', '**/a'];

describe('.dockerignore matching, library against the old matcher', () => {
  it('agrees on 2,000 generated files × 10 paths (wildcards, **, classes, exceptions, anchors, comments)', () => {
    const g = generator(0xd0c, SEGMENTS);
    for (let n = 0; n < 2000; n++) {
      const text = g.file();
      const ours = parseDockerignore(text);
      const old = referenceParse(text);
      expect(ours.length, text).toBe(old.length);
      for (let k = 0; k < 10; k++) {
        const path = g.path();
        expect(ours.ignores(path), `${JSON.stringify(text)} on ${path}`).toBe(referenceIsIgnored(old, path));
      }
    }
  });

  // The one difference generated patterns find: the library cleans patterns as Go's filepath.Clean
  // does (as docker build does), so `a/.` is `a` and `x/../a` is `a`; the old matcher took `.` and
  // `..` literally (so those patterns matched nothing). The library agrees with the old matcher
  // given the cleaned pattern.
  it('cleans `.` and `..` in 1,000 generated files as docker does', () => {
    const g = generator(0xc1ea, [...SEGMENTS, '.', '..']);
    const clean = (text: string) =>
      text
        .split(/\r?\n/)
        .map((l) => {
          const t = l.trim();
          if (t === '' || t.startsWith('#')) return t;
          const neg = t.startsWith('!');
          const p = neg ? t.slice(1).trim() : t;
          return (neg ? '!' : '') + posix.normalize(p).replace(/(?<=.)\/$/, '');
        })
        .join('\n');
    let differ = 0;
    for (let n = 0; n < 1000; n++) {
      const text = g.file();
      const ours = parseDockerignore(text);
      const cleaned = referenceParse(clean(text));
      for (let k = 0; k < 10; k++) {
        const path = g.path();
        expect(ours.ignores(path), `${JSON.stringify(text)} on ${path}`).toBe(referenceIsIgnored(cleaned, path));
        if (ours.ignores(path) !== referenceIsIgnored(referenceParse(text), path)) differ++;
      }
    }
    expect(differ).toBeGreaterThan(0);
  });

  // Cases generated patterns do not reach, each with what docker build does (moby's patternmatcher).
  it.each([
    // [pattern file, path, ignored now, ignored by the old matcher, why]
    ['a/./b', 'a/b', true, false, 'patterns are cleaned (filepath.Clean)'],
    ['x/../secret', 'secret', true, false, 'patterns are cleaned (filepath.Clean)'],
    ['{a,b}', 'a', false, true, 'no brace expansion in docker: `{` is literal'],
    ['{a,b}', '{a,b}', true, false, 'no brace expansion in docker: `{` is literal'],
    ['a+', 'a+', true, true, '`+` is literal (moby escapes it; the library alone would not)'],
    ['a+', 'aa', false, false, '`+` is literal (moby escapes it; the library alone would not)'],
    ['f(x)', 'f(x)', true, true, '`( )` are literal; the library alone would throw on `f(`'],
    [' # secret', '# secret', true, false, 'only a line starting with `#` is a comment (moby checks before trimming)'],
    ['\\*.txt', '*.txt', true, false, 'a backslash escapes the next character'],
    ['\\*.txt', 'a.txt', false, false, 'a backslash escapes the next character'],
    ['Secrets', 'secrets', false, false, 'case-sensitive, as on Linux (the library ignores case by default)'],
    ['*', 'constructor', true, true, 'the library cache would answer from Object.prototype'],
    ['*', 'toString', true, true, 'the library cache would answer from Object.prototype'],
    ['*\n!__proto__', '__proto__', false, false, 'the library cache would answer from Object.prototype'],
    ['[', 'a', false, false, 'a bad pattern matches nothing (docker build stops with a syntax error)'],
  ])('%j on %s: ignored=%s (old: %s), %s', (text, path, now, before) => {
    expect(parseDockerignore(text).ignores(path)).toBe(now);
    expect(referenceIsIgnored(referenceParse(text), path)).toBe(before);
  });

  it('matches in linear time: a pattern that makes a backtracking RegExp hang returns at once', () => {
    const rules = parseDockerignore(`${'*a'.repeat(30)}*b\n**/**/**/**/**/**/**/**/x`);
    const started = Date.now();
    expect(rules.ignores('a'.repeat(200))).toBe(false);
    expect(rules.ignores(`${'a/'.repeat(200)}y`)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
