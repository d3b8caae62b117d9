import { compileRegex, type SafeRegex } from './regex.js';

/**
 * Globs for `changes:`, `exists:` and cache `files:`, GitLab style: `*` and `?` stay within a path
 * segment, `**` crosses them (`src/**` and `**\/*.ts`), `{a,b}` alternates, `[...]` is a class
 * (`[!...]` or `[^...]` negated, `a-z` ranges, everything else in it literal). Compiled onto RE2
 * (./regex.ts) so a hostile pattern cannot stall the planner. A newline in a path is an ordinary
 * character (the `s` flag), as git allows it in file names.
 */
export function compileGlob(glob: string): SafeRegex {
  let re = '^';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '[') {
      const negate = glob[i + 1] === '!' || glob[i + 1] === '^';
      const from = i + (negate ? 2 : 1);
      // The first character of the body may be `]` itself, as in fnmatch.
      const end = glob.indexOf(']', from + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${negate ? '^' : ''}${classBody(glob.slice(from, end))}]`;
        i = end;
      }
    } else re += literal(c);
  }
  if (braces > 0) throw new SyntaxError(`unclosed '{' in glob '${glob}'`);
  return compileRegex(`${re}$`, 's');
}

/** A class body: `a-z` ranges, every other character (backslash too) literal. */
function classBody(body: string): string {
  const chars = Array.from(body);
  let out = '';
  for (let k = 0; k < chars.length; k++) {
    const c = chars[k]!;
    if (c !== '\\' && chars[k + 1] === '-' && k + 2 < chars.length) {
      out += `${literal(c)}-${literal(chars[k + 2]!)}`;
      k += 2;
    } else out += literal(c);
  }
  return out;
}

/** RE2 takes `\` before any ASCII punctuation as that character, and refuses it before anything else. */
function literal(c: string): string {
  return /^[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]$/.test(c) ? `\\${c}` : c;
}

/** Paths are repository-relative without a leading ./ or / (as git prints them). */
export function normalizePath(p: string): string {
  return p.replace(/^\.\//, '').replace(/^\/+/, '');
}

export function anyMatch(globs: readonly SafeRegex[], paths: readonly string[]): boolean {
  return paths.some((p) => globs.some((g) => g.test(normalizePath(p))));
}
