/*
 * TEST-ONLY REFERENCE: src/registry/doublestar.ts (Harbor's patterns on JavaScript's RegExp) as it was
 * before Slipway moved onto re2js. Nothing in src/ imports it; the differential test
 * (test/unit/patterns/regex-differential.test.ts) uses it as the oracle showing that the
 * library-backed code keeps the old behaviour. Do not fix it: it records what we promised.
 */
/**
 * Harbor's tag and repository selectors use doublestar patterns
 * (github.com/bmatcuk/doublestar): `**` any characters, `*` and `?` within
 * one path segment, `{a,b}` alternatives, `[abc]` classes. Compiled to an
 * anchored RegExp; everything else is literal.
 */
function doublestarRegExp(pattern: string): RegExp {
  let out = '';
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '{') {
      out += '(?:';
      depth++;
    } else if (c === '}' && depth > 0) {
      out += ')';
      depth--;
    } else if (c === ',' && depth > 0) out += '|';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) out += '\\[';
      else {
        const body = pattern
          .slice(i + 1, end)
          .replace(/\\/g, '\\\\')
          .replace(/^!/, '^');
        out += `[${body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^$()|\\\]{}]/g, '\\$&');
  }
  return new RegExp(`^${out + ')'.repeat(depth)}$`);
}

export function oldDoublestarMatch(pattern: string, value: string): boolean {
  return doublestarRegExp(pattern).test(value);
}
