import { compileRegex, RegexSyntaxError, type SafeRegex } from './regex.js';

/**
 * `rules: if:` expressions, as GitLab CI writes them: `$VAR`, `${VAR}`, 'strings', "strings",
 * /regex/flags, null; `==`, `!=`, `=~`, `!~`; `&&` binds tighter than `||`; parentheses. A bare
 * variable is true when it is set and not empty. Parsed once at compile time (syntax errors get a
 * position), evaluated per event with no I/O.
 */
type Operand = { t: 'var'; name: string } | { t: 'str'; value: string } | { t: 'null' } | { t: 'regex'; re: SafeRegex };

export type Expr = { t: 'or' | 'and'; l: Expr; r: Expr } | { t: 'cmp'; op: '==' | '!=' | '=~' | '!~'; l: Operand; r: Operand } | { t: 'truthy'; v: Operand };

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const MAX_EXPRESSION = 2000;
const MAX_DEPTH = 32;

type Token = { k: 'op'; v: string; at: number } | { k: 'operand'; v: Operand; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '=~', '!~', '&&', '||'].includes(two)) {
      out.push({ k: 'op', v: two, at: i });
      i += 2;
    } else if (c === '(' || c === ')') {
      out.push({ k: 'op', v: c, at: i++ });
    } else if (c === '$') {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(src.slice(i));
      if (!m) throw new ExpressionError("'$' must start a variable name like $SLIPWAY_BRANCH", i);
      out.push({ k: 'operand', v: { t: 'var', name: m[1] ?? m[2]! }, at: i });
      i += m[0].length;
    } else if (c === '"' || c === "'") {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new ExpressionError('unterminated string', i);
      out.push({ k: 'operand', v: { t: 'str', value: src.slice(i + 1, end) }, at: i });
      i = end + 1;
    } else if (c === '/') {
      let j = i + 1;
      while (j < src.length && src[j] !== '/') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new ExpressionError('unterminated regular expression', i);
      const flags = /^[A-Za-z]*/.exec(src.slice(j + 1))![0];
      try {
        out.push({ k: 'operand', v: { t: 'regex', re: compileRegex(src.slice(i + 1, j), flags) }, at: i });
      } catch (err) {
        if (err instanceof RegexSyntaxError) throw new ExpressionError(`bad regular expression: ${err.message}`, i);
        throw err;
      }
      i = j + 1 + flags.length;
    } else if (src.startsWith('null', i) && !/[A-Za-z0-9_]/.test(src[i + 4] ?? '')) {
      out.push({ k: 'operand', v: { t: 'null' }, at: i });
      i += 4;
    } else {
      const word = /^[^\s()]+/.exec(src.slice(i))?.[0] ?? c;
      const hint = /^[A-Za-z_]\w*$/.test(word) ? ` (a variable is written $${word}, a string '${word}')` : '';
      throw new ExpressionError(`unexpected '${word}'${hint}`, i);
    }
  }
  return out;
}

class ExprParser {
  private i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly length: number,
  ) {}

  parse(): Expr {
    const e = this.or(0);
    const t = this.toks[this.i];
    if (t) throw new ExpressionError(`unexpected '${t.k === 'op' ? t.v : 'value'}' (missing && or ||?)`, t.at);
    return e;
  }

  private or(depth: number): Expr {
    let l = this.and(depth);
    while (this.peekOp('||')) {
      this.i++;
      l = { t: 'or', l, r: this.and(depth) };
    }
    return l;
  }

  private and(depth: number): Expr {
    let l = this.primary(depth);
    while (this.peekOp('&&')) {
      this.i++;
      l = { t: 'and', l, r: this.primary(depth) };
    }
    return l;
  }

  private primary(depth: number): Expr {
    const t = this.toks[this.i++];
    if (!t) throw new ExpressionError('expression ends too early', this.length);
    if (t.k === 'op') {
      if (t.v !== '(') throw new ExpressionError(`unexpected '${t.v}'`, t.at);
      if (depth >= MAX_DEPTH) throw new ExpressionError(`more than ${MAX_DEPTH} nested parentheses`, t.at);
      const e = this.or(depth + 1);
      const close = this.toks[this.i++];
      if (close?.k !== 'op' || close.v !== ')') throw new ExpressionError("missing ')'", close?.at ?? this.length);
      return e;
    }
    const next = this.toks[this.i];
    if (next?.k === 'op' && ['==', '!=', '=~', '!~'].includes(next.v)) {
      this.i++;
      const r = this.toks[this.i++];
      if (r?.k !== 'operand') throw new ExpressionError(`'${next.v}' needs a value on its right`, r?.at ?? this.length);
      const op = next.v as '==' | '!=' | '=~' | '!~';
      if ((op === '=~' || op === '!~') && r.v.t !== 'regex' && r.v.t !== 'var') {
        throw new ExpressionError(`'${op}' needs a /regular expression/ on its right`, r.at);
      }
      return { t: 'cmp', op, l: t.v, r: r.v };
    }
    return { t: 'truthy', v: t.v };
  }

  private peekOp(v: string): boolean {
    const t = this.toks[this.i];
    return t?.k === 'op' && t.v === v;
  }
}

export function parseExpression(src: string): Expr {
  if (src.length > MAX_EXPRESSION) throw new ExpressionError(`expression longer than ${MAX_EXPRESSION} characters`, 0);
  return new ExprParser(tokenize(src), src.length).parse();
}

export type Vars = Readonly<Record<string, string>>;

function valueOf(o: Operand, vars: Vars): string | null {
  if (o.t === 'var') return Object.hasOwn(vars, o.name) ? vars[o.name]! : null;
  if (o.t === 'str') return o.value;
  if (o.t === 'regex') return o.re.source;
  return null;
}

/** A variable on the right of =~ holds a pattern, written /like this/ or bare. */
function regexOf(o: Operand, vars: Vars): SafeRegex | null {
  if (o.t === 'regex') return o.re;
  const v = valueOf(o, vars);
  if (v === null) return null;
  const m = /^\/(.*)\/([A-Za-z]*)$/s.exec(v);
  try {
    return m ? compileRegex(m[1]!, m[2]!) : compileRegex(v);
  } catch {
    return null; // a bad pattern in a variable matches nothing, as in GitLab
  }
}

export function evaluate(e: Expr, vars: Vars): boolean {
  switch (e.t) {
    case 'or':
      return evaluate(e.l, vars) || evaluate(e.r, vars);
    case 'and':
      return evaluate(e.l, vars) && evaluate(e.r, vars);
    case 'truthy': {
      const v = valueOf(e.v, vars);
      return v !== null && v !== '';
    }
    case 'cmp': {
      const l = valueOf(e.l, vars);
      if (e.op === '==' || e.op === '!=') return (l === valueOf(e.r, vars)) === (e.op === '==');
      const re = regexOf(e.r, vars);
      // biome-ignore lint/complexity/useOptionalChain: an empty string is a value to match here; `l && …` would treat it as no value
      const hit = l !== null && re !== null && re.test(l.slice(0, 10_000));
      return e.op === '=~' ? hit : !hit;
    }
  }
}
