import type { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import dockerignore from '@balena/dockerignore';
import { RE2JS } from 're2js';

/**
 * `.dockerignore`, as `docker build` reads it, by @balena/dockerignore (a port of moby's
 * dockerignore + fileutils): one pattern a line, `#` comments, `!` exceptions, patterns cleaned
 * like Go's filepath.Clean (a leading `/`, `./`, a trailing `/` and `a/../` go), the last
 * matching rule wins, and a pattern that matches a directory matches everything under it.
 *
 * The library turns each pattern into a native (backtracking) RegExp, escaping only `.` and `$`.
 * Patterns come from the repository, so each rule gets a linear-time RE2 matcher instead, built
 * as moby's patternmatcher builds its regexp (which also escapes `+ ( ) | { }`). And its answer
 * cache is a plain object, so `constructor` or `toString` would read as "not ignored": the rules
 * are applied without that cache. See docs/decisions.md.
 */
export interface IgnoreRules {
  /** How many rules were read (comments and blank lines are not rules). */
  readonly length: number;
  ignores(path: string): boolean;
}

/** What ignore.js 1.0.2 keeps per rule; `regexp` is read by its `_test` when already set. */
interface LibraryRule {
  pattern: string;
  regexp?: { test(path: string): boolean };
}
interface LibraryInternals {
  _rules: LibraryRule[];
  /** true when the path is kept (not ignored), over all rules, without the cache. */
  _test(path: string): boolean;
}

const NEVER = { test: () => false };
// A CommonJS module whose types declare an ES default export: `.default` is the factory in both.
const createIgnore = dockerignore.default;

export function parseDockerignore(text: string): IgnoreRules {
  const lib = createIgnore({ ignorecase: false }).add(text) as unknown as LibraryInternals;
  if (!Array.isArray(lib._rules) || typeof lib._test !== 'function')
    throw new Error('@balena/dockerignore: unexpected internals (rules or _test missing); see src/images/dockerignore.ts');
  for (const rule of lib._rules) {
    const re = compileRule(rule.pattern);
    rule.regexp = re ? { test: (p: string) => re.matches(p) } : NEVER;
  }
  return {
    length: lib._rules.length,
    ignores: (path) => {
      const p = path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      return p !== '' && !lib._test(p);
    },
  };
}

export function isIgnored(rules: IgnoreRules, path: string): boolean {
  return rules.ignores(path);
}

/**
 * moby/patternmatcher's Pattern.compile (Linux): `**` any number of directories, `*` and `?`
 * within one, `[...]` classes and `\` escapes as in Go's regexp, the rest literal. A pattern that
 * does not compile matches nothing (docker build would stop with "syntax error in pattern").
 */
function compileRule(pattern: string): RE2JS | undefined {
  const chars = [...pattern];
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === '*' && chars[i + 1] === '*') {
      i++;
      if (chars[i + 1] === '/') i++;
      re += i + 1 >= chars.length ? '.*' : '(.*/)?';
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if ('.+()|{}$'.includes(ch)) re += `\\${ch}`;
    else if (ch === '\\') re += i + 1 < chars.length ? `\\${chars[++i] as string}` : '\\';
    else re += ch;
  }
  try {
    return RE2JS.compile(`${re}$`);
  } catch {
    return undefined;
  }
}

/**
 * Drops ignored entries from a build-context tar. The Dockerfile and .dockerignore always stay
 * (docker sends them to the daemon even when listed).
 */
export function filterContext(tar: Readable, rules: IgnoreRules, keep: readonly string[]): Readable {
  if (rules.length === 0) return tar;
  const always = new Set(keep.map((k) => k.replace(/^\.\//, '')));
  const ex = extract();
  const out = pack();
  ex.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '').replace(/\/+$/, '');
    if (name !== '' && !always.has(name) && rules.ignores(name)) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    stream.pipe(out.entry(header, next));
  });
  ex.on('finish', () => out.finalize());
  ex.on('error', (err) => out.destroy(err));
  tar.on('error', (err) => ex.destroy(err));
  tar.pipe(ex);
  return out as unknown as Readable;
}
