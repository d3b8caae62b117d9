import { compileSafeRegex, type SafeRegex } from './safe-regex.js';

/**
 * Globs for `changes:`, `exists:` and cache `files:`, GitLab style: `*` and `?` stay within a path
 * segment, `**` crosses them (`src/**` and `**\/*.ts`), `{a,b}` alternates, `[...]` is a class.
 * Compiled to the linear-time matcher so a hostile pattern cannot stall the planner.
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
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += /[A-Za-z0-9_/-]/.test(c) ? c : `\\${c}`;
  }
  if (braces > 0) throw new SyntaxError(`unclosed '{' in glob '${glob}'`);
  return compileSafeRegex(`${re}$`);
}

/** Paths are repository-relative without a leading ./ or / (as git prints them). */
export function normalizePath(p: string): string {
  return p.replace(/^\.\//, '').replace(/^\/+/, '');
}

export function anyMatch(globs: readonly SafeRegex[], paths: readonly string[]): boolean {
  return paths.some((p) => globs.some((g) => g.test(normalizePath(p))));
}
