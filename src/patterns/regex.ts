import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';

/**
 * Regular expressions from repositories (`=~` / `!~` in rules, `coverage:`) and the globs compiled
 * onto them. They run on re2js, the JavaScript port of RE2: the engine GitLab uses for the same
 * patterns, so the syntax is GitLab's and matching is linear in the subject (a backtracking engine
 * would let `/(a+)+$/` hang the planner on a long branch name). RE2 refuses what it cannot run in
 * linear time: backreferences and lookaround.
 */
export interface SafeRegex {
  /** The pattern as written in rules: `/pattern/flags`. */
  source: string;
  /** Whether the pattern matches anywhere in `subject` (unanchored, like RegExp.prototype.test). */
  test(subject: string): boolean;
  /** Every non-overlapping match, left to right: the whole match, then the capture groups. */
  matchAll(subject: string): IterableIterator<RegExpMatchArray>;
}

export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

const MAX_PATTERN = 1000;

/**
 * GitLab's `/pattern/flags` takes `i`, `m`, `s` and `U` and prepends them as RE2's `(?flags)`
 * (Gitlab::UntrustedRegexp::RubySyntax). i, m and s map onto re2js flags; U (ungreedy) has none,
 * so it goes inline as GitLab does.
 */
const FLAG_BITS: Readonly<Record<string, number>> = { i: RE2JS.CASE_INSENSITIVE, m: RE2JS.MULTILINE, s: RE2JS.DOTALL, U: 0 };

/** Compile `pattern` (without slashes). Throws RegexSyntaxError naming the problem and the pattern. */
export function compileRegex(pattern: string, flags = ''): SafeRegex {
  const source = `/${pattern}/${flags}`;
  if (pattern.length > MAX_PATTERN) throw new RegexSyntaxError(`pattern longer than ${MAX_PATTERN} characters`);
  let bits = 0;
  for (const f of flags) {
    const bit = FLAG_BITS[f];
    if (bit === undefined) throw new RegexSyntaxError(`unsupported flag '${f}' in ${source} (GitLab takes i, m, s and U)`);
    bits |= bit;
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(flags.includes('U') ? `(?U)${pattern}` : pattern, bits);
  } catch (err) {
    if (err instanceof RE2JSException) throw new RegexSyntaxError(describe(err, pattern, source));
    throw err;
  }
  return { source, test: (subject) => re.test(subject), matchAll: (subject) => re.matchAll(subject) };
}

/** RE2's reason, in our words where RE2's are vague, with the offending part and the pattern. */
function describe(err: RE2JSException, pattern: string, source: string): string {
  if (!(err instanceof RE2JSSyntaxException)) return `${err.message} in ${source}`;
  const part = err.getPattern()?.replace(/^\(\?U\)/, '') ?? null;
  let what = err.getDescription();
  if (part !== null && /^\\[1-9]/.test(part)) what = 'backreferences are not supported';
  else if (part !== null && /^\(\?<?[=!]/.test(part)) what = 'lookahead and lookbehind are not supported';
  return part === null || part === pattern ? `${what} in ${source}` : `${what} (\`${part}\`) in ${source}`;
}
