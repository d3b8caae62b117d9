/*
 * Differential tests for the re2js-backed regexes and globs (src/patterns/regex.ts, glob.ts and
 * src/registry/doublestar.ts). Deterministic: a seeded PRNG generates the cases.
 *
 * - Regexes: random patterns from the part of the syntax RE2 and ECMAScript share (literals,
 *   escapes, `.`, classes, `\d \w \s` and negations, `^ $ \b \B`, groups, alternation, greedy and
 *   lazy quantifiers) with flags i, m, s, on random subjects and on subjects sampled from the
 *   pattern. The oracle is JavaScript's own RegExp (with `u`, so both work on code points), an
 *   independent engine. Subjects avoid the characters where the two are known to differ by design:
 *   `\r`, `\u2028`, `\u2029` (a line end for JavaScript's `.` and `m`, not for RE2), `\v` and
 *   Unicode spaces (in JavaScript's `\s`, not in RE2's). They are also checked against the old
 *   hand-written matcher (test/reference/), which had no `\n` in negated classes and `\v` in `\s`.
 * - Globs and Harbor's doublestar patterns: random patterns and paths, checked against the old
 *   implementations kept as test-only references under test/reference/.
 */
import { describe, expect, it } from 'vitest';
import { prng } from '../../../bench/prng.js';
import { compileGlob } from '../../../src/patterns/glob.js';
import { compileRegex } from '../../../src/patterns/regex.js';
import { doublestarMatch } from '../../../src/registry/doublestar.js';
import { oldDoublestarMatch } from '../../reference/old-doublestar.js';
import { oldCompileGlob } from '../../reference/old-glob.js';
import { compileSafeRegex as oldCompileRegex } from '../../reference/old-safe-regex.js';

type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const int = (rnd: Rnd, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));

/** Characters subjects are made of: both engines agree on every one of them. */
const ALPHABET = Array.from('abcABCxyz019-_ .é\u00c9/\n*+?()[]{}|\\^$#');
const DIGITS = Array.from('0123456789');
const WORD = [...Array.from('abcxyzABCXYZ'), ...DIGITS, '_'];
const SPACE = [' ', '\t', '\n'];

/** A generated pattern: its source and a way to draw a subject it probably matches. */
interface Gen {
  src: string;
  sample: (rnd: Rnd) => string;
  quantifiable: boolean;
}

const lit = (src: string, ch: string): Gen => ({ src, sample: () => ch, quantifiable: true });
const oneOf = (src: string, chars: readonly string[]): Gen => ({ src, sample: (r) => pick(r, chars), quantifiable: true });
const notIn = (src: string, chars: readonly string[]): Gen =>
  oneOf(
    src,
    ALPHABET.filter((c) => !chars.includes(c)),
  );

function genClass(rnd: Rnd): Gen {
  const items: Array<{ src: string; chars: string[] }> = [];
  for (let n = int(rnd, 1, 3); n > 0; n--) {
    const r = rnd();
    if (r < 0.35) {
      const c = pick(rnd, Array.from('abcxAB01_ .é/*'));
      items.push({ src: c === '.' || c === '*' ? `\\${c}` : c, chars: [c] });
    } else if (r < 0.55) {
      const [lo, hi] = pick(rnd, [
        ['a', 'c'],
        ['x', 'z'],
        ['0', '5'],
        ['A', 'C'],
      ] as const);
      const chars = ALPHABET.filter((c) => c >= lo && c <= hi);
      items.push({ src: `${lo}-${hi}`, chars });
    } else if (r < 0.75) {
      const c = pick(rnd, [']', '\\', '^', '-', '[']);
      items.push({ src: `\\${c}`, chars: [c] });
    } else {
      const [src, chars] = pick(rnd, [
        ['\\d', DIGITS],
        ['\\w', WORD],
        ['\\s', SPACE],
      ] as const);
      items.push({ src, chars: [...chars] });
    }
  }
  const chars = items.flatMap((i) => i.chars);
  const body = items.map((i) => i.src).join('');
  return rnd() < 0.3 ? notIn(`[^${body}]`, chars) : oneOf(`[${body}]`, chars);
}

function genAtom(rnd: Rnd, depth: number, loops: number): Gen {
  const r = rnd();
  if (r < 0.3) {
    const c = pick(rnd, Array.from('abcABxyz01-_ é/'));
    return lit(c, c);
  }
  if (r < 0.38) {
    const c = pick(rnd, Array.from('.*+?()[]{}|\\^$/'));
    return lit(`\\${c}`, c);
  }
  if (r < 0.45)
    return {
      src: '.',
      sample: (g) =>
        pick(
          g,
          ALPHABET.filter((c) => c !== '\n'),
        ),
      quantifiable: true,
    };
  if (r < 0.55) {
    const [src, chars, neg] = pick(rnd, [
      ['\\d', DIGITS, false],
      ['\\D', DIGITS, true],
      ['\\w', WORD, false],
      ['\\W', WORD, true],
      ['\\s', SPACE, false],
      ['\\S', SPACE, true],
    ] as const);
    return neg ? notIn(src, chars) : oneOf(src, chars);
  }
  if (r < 0.68) return genClass(rnd);
  if (r < 0.76) return { src: pick(rnd, ['^', '$', '\\b', '\\B']), sample: () => '', quantifiable: false };
  if (depth >= 3) return lit('a', 'a');
  const inner = genAlt(rnd, depth + 1, loops);
  return { src: `${rnd() < 0.5 ? '(' : '(?:'}${inner.src})`, sample: inner.sample, quantifiable: loops < 2 };
}

/** `loops`: quantifiers around this point. At most two nest, so the backtracking oracle stays quick. */
function genRepeat(rnd: Rnd, depth: number, loops: number): Gen {
  const quantify = rnd() >= 0.55;
  const atom = genAtom(rnd, depth, quantify ? loops + 1 : loops);
  if (!atom.quantifiable || !quantify) return atom;
  const [q, min, max] = pick(rnd, [
    ['*', 0, 3],
    ['+', 1, 3],
    ['?', 0, 1],
    ['{2}', 2, 2],
    ['{1,}', 1, 3],
    ['{0,2}', 0, 2],
    ['{1,3}', 1, 3],
  ] as const);
  const lazy = rnd() < 0.2 ? '?' : '';
  return { src: `${atom.src}${q}${lazy}`, sample: (g) => Array.from({ length: int(g, min, max) }, () => atom.sample(g)).join(''), quantifiable: false };
}

function genAlt(rnd: Rnd, depth: number, loops = 0): Gen {
  const branches = Array.from({ length: rnd() < 0.7 ? 1 : int(rnd, 2, 3) }, () => {
    const items = Array.from({ length: int(rnd, 1, 4) }, () => genRepeat(rnd, depth, loops));
    return { src: items.map((i) => i.src).join(''), sample: (g: Rnd) => items.map((i) => i.sample(g)).join('') };
  });
  return { src: branches.map((b) => b.src).join('|'), sample: (g) => pick(g, branches).sample(g), quantifiable: true };
}

function randomString(rnd: Rnd, alphabet: readonly string[], max: number): string {
  return Array.from({ length: int(rnd, 0, max) }, () => pick(rnd, alphabet)).join('');
}

function subjectsFor(rnd: Rnd, gen: Gen): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) out.push(gen.sample(rnd));
  out.push(randomString(rnd, ALPHABET, 3) + gen.sample(rnd) + randomString(rnd, ALPHABET, 3));
  out.push(randomString(rnd, ALPHABET, 12));
  // Short subjects keep the backtracking oracle quick on nested quantifiers.
  return out.map((s) => s.slice(0, 24));
}

/** Patterns the pipeline tests, scenarios and docs use, and the cases the old matcher promised. */
const OUR_CASES: Array<[pattern: string, flags: string, subject: string, expected: boolean]> = [
  ['^v\\d+\\.\\d+\\.\\d+$', '', 'v1.2.3', true],
  ['^v\\d+\\.\\d+\\.\\d+$', '', 'v1.2', false],
  ['^v\\d+\\.\\d+\\.\\d+$', '', 'v1.2.3-rc', false],
  ['^v', '', 'v2', true],
  ['^docs-', '', 'docs-readme', true],
  ['^docs-', '', 'fix-docs-', false],
  ['^(main|release\\/.*)$', '', 'release/1.0', true],
  ['^(main|release\\/.*)$', '', 'mainline', false],
  ['^(a|b)*c{1,3}$', 'i', 'ABAcc', true],
  ['^(a|b)*c{1,3}$', 'i', 'abcccc', false],
  ['x.*y.*z', '', 'axbyczd', true],
  ['x.*y.*z', '', 'x\ny\nz', false],
  ['x.*y.*z', 's', 'x\ny\nz', true],
  ['^b$', 'm', 'a\nb\nc', true],
  ['^b$', '', 'a\nb\nc', false],
  ['Lines\\s*:\\s*\\d+\\.?\\d*%', '', 'Lines        : 83.33% ( 5/6 )', true],
  ['TOTAL.*\\s(\\d+)%', '', 'TOTAL   120   12   90%', true],
  ['\\bfeat\\b', '', 'a feat: x', true],
  ['\\bfeat\\b', '', 'feature', false],
  ['[^/]+\\.ts$', '', 'src/a.ts', true],
  ['[a-c]+', 'i', 'XBX', true],
  ['(?:ab)+?c', '', 'ababc', true],
  ['(a+)+$', '', `${'a'.repeat(40)}b`, false],
  ['é', 'i', 'É', true],
  ['^.$', '', '\u{1F600}', true],
  ['^(?P<major>\\d+)\\.(?<minor>\\d+)$', '', '1.2', true],
];

describe('regular expressions on re2js', () => {
  it.each(OUR_CASES)('/%s/%s on %j → %s', (pattern, flags, subject, expected) => {
    expect(compileRegex(pattern, flags).test(subject)).toBe(expected);
  });

  it('agrees with JavaScript RegExp on 2,000 generated patterns from the common subset', () => {
    const rnd = prng(0x2e2);
    const mismatches: string[] = [];
    let checked = 0;
    let matched = 0;
    for (let n = 0; n < 2000; n++) {
      const gen = genAlt(rnd, 0);
      const flags = pick(rnd, ['', '', 'i', 'm', 's', 'is', 'im']);
      const ours = compileRegex(gen.src, flags);
      const oracle = new RegExp(gen.src, `${flags}u`);
      for (const subject of subjectsFor(rnd, gen)) {
        const want = oracle.test(subject);
        checked++;
        if (want) matched++;
        if (ours.test(subject) !== want) mismatches.push(`/${gen.src}/${flags} on ${JSON.stringify(subject)}: RegExp says ${want}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(checked).toBe(10_000);
    // Both outcomes are well represented, or the comparison would prove little.
    expect(matched).toBeGreaterThan(checked * 0.3);
    expect(matched).toBeLessThan(checked * 0.9);
  });

  it('agrees with the old hand-written matcher wherever it accepted the pattern', () => {
    const rnd = prng(0x01d);
    const mismatches: string[] = [];
    let compared = 0;
    for (let n = 0; n < 2000; n++) {
      const gen = genAlt(rnd, 0);
      const flags = pick(rnd, ['', 'i']);
      let old: ReturnType<typeof oldCompileRegex> | undefined;
      try {
        old = oldCompileRegex(gen.src, flags);
      } catch {
        continue; // the old matcher's grammar was narrower (e.g. repeat counts, escapes in ranges)
      }
      const ours = compileRegex(gen.src, flags);
      // Subjects without \n: the old matcher kept it out of negated classes; RE2 and JavaScript do not.
      for (const subject of subjectsFor(rnd, gen).map((s) => s.replaceAll('\n', ' '))) {
        compared++;
        if (ours.test(subject) !== old.test(subject)) mismatches.push(`/${gen.src}/${flags} on ${JSON.stringify(subject)}: old says ${old.test(subject)}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(compared).toBeGreaterThan(5000);
  });
});

const SEGMENTS = ['src', 'lib', 'a', 'b', 'x.ts', 'y.md', '.env', 'é', 'a b', 'a+b', '(x)', 'c|d', '$v', '^w', 'q#', '~t', '%', '!', '@', '\\'];
const GLOB_TOKENS = [
  '*',
  '**',
  '**/',
  '?',
  '{a,b}',
  '{src,lib/**}',
  '{,/**}',
  '[abc]',
  '[!a]',
  '[^x]',
  '[a-c]',
  '[]a]',
  '[.]',
  '[\\]',
  '[\\-a]',
  '[!.-/]',
  '[a-]',
  '/',
  '.',
  '}',
  ',',
  '[',
  ']',
];

function genGlob(rnd: Rnd): string {
  return Array.from({ length: int(rnd, 1, 6) }, () => (rnd() < 0.5 ? pick(rnd, SEGMENTS) : pick(rnd, GLOB_TOKENS))).join('');
}

/** A path the glob probably matches: each wildcard replaced by something it accepts. */
function samplePath(rnd: Rnd, glob: string): string {
  return glob
    .replace(/\*\*\/?|\*|\?|\{([^}]*)\}|\[!?\^?\]?[^\]]*\]/g, (m, alts: string | undefined) => {
      if (m.startsWith('**')) return pick(rnd, ['', 'a/', 'src/b/', 'x/y/z/']);
      if (m === '*') return pick(rnd, ['', 'a', 'ab.ts', 'é', 'a/b']);
      if (m === '?') return pick(rnd, ['a', '.', 'é', '/']);
      if (alts !== undefined) return pick(rnd, alts.split(','));
      return pick(rnd, ['a', 'b', 'x', ']', '.', '\\', '-']);
    })
    .replace(/^\/+/, '');
}

function randomPath(rnd: Rnd): string {
  return Array.from({ length: int(rnd, 1, 4) }, () => pick(rnd, SEGMENTS)).join('/');
}

describe('globs on re2js', () => {
  it('agree with the old glob compiler on 1,500 generated globs', () => {
    const rnd = prng(0x6106);
    const mismatches: string[] = [];
    let compared = 0;
    let matched = 0;
    for (let n = 0; n < 1500; n++) {
      const glob = genGlob(rnd);
      let old: ReturnType<typeof oldCompileGlob> | undefined;
      try {
        old = oldCompileGlob(glob);
      } catch {
        continue; // refused before; ours may accept more (`[!]a]` as fnmatch reads it)
      }
      let ours: ReturnType<typeof compileGlob> | undefined;
      try {
        ours = compileGlob(glob);
      } catch (err) {
        mismatches.push(`${JSON.stringify(glob)}: refused now (${(err as Error).message}), accepted before`);
        continue;
      }
      const paths = [...Array.from({ length: 4 }, () => samplePath(rnd, glob)), randomPath(rnd), randomPath(rnd)];
      for (const path of paths) {
        const want = old.test(path);
        compared++;
        if (want) matched++;
        if (ours.test(path) !== want) mismatches.push(`${JSON.stringify(glob)} on ${JSON.stringify(path)}: old says ${want}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(compared).toBeGreaterThan(5000);
    expect(matched).toBeGreaterThan(compared * 0.2);
  });

  it('agree with the old doublestar matcher (Harbor selectors) on 1,000 generated patterns', () => {
    const rnd = prng(0xd5);
    const mismatches: string[] = [];
    const outcome = (f: () => boolean): string => {
      try {
        return String(f());
      } catch {
        return 'error';
      }
    };
    for (let n = 0; n < 1000; n++) {
      const pattern = genGlob(rnd).replaceAll('**/', '**').replace('{,/**}', '{v*,release-*}');
      for (const value of [samplePath(rnd, pattern), samplePath(rnd, pattern), randomPath(rnd), 'v1.2', 'release-3']) {
        const want = outcome(() => oldDoublestarMatch(pattern, value));
        const got = outcome(() => doublestarMatch(pattern, value));
        if (got !== want) mismatches.push(`${JSON.stringify(pattern)} on ${JSON.stringify(value)}: old says ${want}, now ${got}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
  });
});
