/*
 * TEST-ONLY REFERENCE: the glob compiler of src/patterns/glob.ts, on that matcher, as it was
 * before Slipway moved onto re2js. Nothing in src/ imports it; the differential test
 * (test/unit/patterns/regex-differential.test.ts) uses it as the oracle showing that the
 * library-backed code keeps the old behaviour. Do not fix it: it records what we promised.
 */
import { compileSafeRegex, type SafeRegex } from './old-safe-regex.js';

/**
 * Globs for `changes:`, `exists:` and cache `files:`, GitLab style: `*` and `?` stay within a path
 * segment, `**` crosses them (`src/**` and `**\/*.ts`), `{a,b}` alternates, `[...]` is a class.
 * Compiled to the linear-time matcher so a hostile pattern cannot stall the planner.
 */
export function oldCompileGlob(glob: string): SafeRegex {
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
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += /[A-Za-z0-9_/-]/.test(c) ? c : `\\${c}`;
  }
  if (braces > 0) throw new SyntaxError(`unclosed '{' in glob '${glob}'`);
  return compileSafeRegex(`${re}$`);
}
