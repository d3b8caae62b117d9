import { RE2JS } from 're2js';

/**
 * Harbor's tag and repository selectors use doublestar patterns
 * (github.com/bmatcuk/doublestar): `**` any characters, `*` and `?` within
 * one path segment, `{a,b}` alternatives, `[abc]` classes (`[!abc]` negated).
 * Compiled to an anchored RE2 expression (re2js: linear time, whatever the
 * pattern); everything else is literal.
 */
export function doublestarRegExp(pattern: string): RE2JS {
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
        const body = pattern.slice(i + 1, end);
        const negate = body.startsWith('!') || body.startsWith('^');
        const inner = classBody(negate ? body.slice(1) : body);
        // `[]` matches nothing and `[!]` any one character, as they did as JavaScript classes.
        out += inner === '' ? (negate ? '(?s:.)' : '[^\\x00-\\x{10FFFF}]') : `[${negate ? '^' : ''}${inner}]`;
        i = end;
      }
    } else out += literal(c);
  }
  return RE2JS.compile(`^${out + ')'.repeat(depth)}$`, RE2JS.DOTALL);
}

/** `a-z` ranges (a backslash may start one, as it did in the JavaScript class); everything else literal. */
function classBody(body: string): string {
  const chars = Array.from(body);
  let out = '';
  for (let k = 0; k < chars.length; k++) {
    const c = chars[k]!;
    if (chars[k + 1] === '-' && k + 2 < chars.length) {
      out += `${literal(c)}-${literal(chars[k + 2]!)}`;
      k += 2;
    } else out += literal(c);
  }
  return out;
}

/** RE2 takes `\` before any ASCII punctuation as that character and refuses it before anything else. */
function literal(c: string): string {
  return /^[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]$/.test(c) ? `\\${c}` : c;
}

export function doublestarMatch(pattern: string, value: string): boolean {
  return doublestarRegExp(pattern).test(value);
}
