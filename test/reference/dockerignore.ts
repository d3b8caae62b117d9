// Test-only reference: Slipway's own .dockerignore matcher before @balena/dockerignore (src/images/dockerignore.ts).
// Kept so test/unit/images/dockerignore-differential.test.ts can show where the two differ, and why.
import type { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { compileGlob } from '../../src/patterns/glob.js';
import type { SafeRegex } from './old-safe-regex.js';

export interface IgnoreRule {
  pattern: string;
  exclude: boolean;
  re: SafeRegex;
}

/**
 * `.dockerignore`, as `docker build` reads it: one pattern a line, `#` comments, a leading `/` or
 * `./` means the context root, `!` re-includes, the last matching rule wins, and a pattern that
 * matches a directory excludes everything under it. Patterns use the linear-time glob matcher.
 */
export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exclude = !line.startsWith('!');
    if (!exclude) line = line.slice(1).trim();
    const pattern = line.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
    if (pattern === '' || pattern === '.') continue;
    try {
      // The pattern itself, or anything below a directory it names.
      rules.push({ pattern, exclude, re: compileGlob(`${pattern}{,/**}`) });
    } catch {
      // A pattern docker would also reject: ignore the line rather than fail the build.
    }
  }
  return rules;
}

export function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const p = path.replace(/^\.\//, '').replace(/\/+$/, '');
  let ignored = false;
  for (const r of rules) if (r.re.test(p)) ignored = r.exclude;
  return ignored;
}

/**
 * Drops ignored entries from a build-context tar. The Dockerfile and .dockerignore always stay
 * (docker sends them to the daemon even when listed).
 */
export function filterContext(tar: Readable, rules: readonly IgnoreRule[], keep: readonly string[]): Readable {
  if (rules.length === 0) return tar;
  const always = new Set(keep.map((k) => k.replace(/^\.\//, '')));
  const ex = extract();
  const out = pack();
  ex.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '').replace(/\/+$/, '');
    if (name !== '' && !always.has(name) && isIgnored(rules, name)) {
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
