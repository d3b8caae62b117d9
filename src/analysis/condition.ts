/**
 * `successCondition` / `failureCondition` as Argo Rollouts writes them for Prometheus
 * (`result[0] < 0.05`, `len(result) == 0 || result[0] >= 0.95`, `isNaN(result[0])`), in a small
 * grammar of its own: Argo evaluates them with expr-lang, whose whole language Slipway does not need
 * and must not `eval`. What it takes:
 *
 *   or      := and (('||' | 'or') and)*
 *   and     := not (('&&' | 'and') not)*
 *   not     := ('!' | 'not') not | compare
 *   compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/') unary)*
 *   unary   := '-' unary | primary
 *   primary := number | 'true' | 'false' | 'result' ('[' integer ']')? | fn '(' or ')' | '(' or ')'
 *   fn      := 'len' | 'isNaN' | 'isInf' | 'abs'
 *
 * Parsed when the pipeline file is read (a syntax error gets its position); evaluated per
 * measurement with no I/O. A comparison with NaN, or `result[i]` of an empty result, cannot be
 * judged: that is an `Inconclusive` measurement, not a pass or a fail.
 */
export type Condition =
  | { t: 'num'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'result' }
  | { t: 'index'; i: number; at: number }
  | { t: 'fn'; name: Fn; arg: Condition; at: number }
  | { t: 'not'; e: Condition; at: number }
  | { t: 'neg'; e: Condition; at: number }
  | { t: 'bin'; op: BinOp; l: Condition; r: Condition; at: number };

type Fn = 'len' | 'isNaN' | 'isInf' | 'abs';
type BinOp = '||' | '&&' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '+' | '-' | '*' | '/';
type Value = number | boolean | readonly number[];

/** A condition that cannot be parsed, or whose parts do not fit together (`offset` is 0-based). */
export class ConditionError extends Error {
  override readonly name = 'ConditionError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** The value cannot be judged: no series, or NaN. */
export class Inconclusive extends Error {
  override readonly name = 'Inconclusive';
}

const MAX_CONDITION = 500;
const MAX_DEPTH = 32;
const FNS: readonly Fn[] = ['len', 'isNaN', 'isInf', 'abs'];
const WORD_OPS: Readonly<Record<string, BinOp | '!'>> = { or: '||', and: '&&', not: '!' };

type Token = { k: 'num'; v: number; at: number } | { k: 'word'; v: string; at: number } | { k: 'op'; v: string; at: number };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const num = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ k: 'num', v: Number(num[0]), at: i });
      i += num[0].length;
      continue;
    }
    const word = /^[A-Za-z_]\w*/.exec(src.slice(i));
    if (word) {
      const w = word[0];
      const op = WORD_OPS[w];
      out.push(op ? { k: 'op', v: op, at: i } : { k: 'word', v: w, at: i });
      i += w.length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['<=', '>=', '==', '!=', '&&', '||'].includes(two)) {
      out.push({ k: 'op', v: two, at: i });
      i += 2;
    } else if ('<>!+-*/()[]'.includes(c)) {
      out.push({ k: 'op', v: c, at: i++ });
    } else {
      throw new ConditionError(`unexpected '${c}'${c === '=' ? " (compare with '==')" : c === '&' || c === '|' ? ` (write '${c}${c}')` : ''}`, i);
    }
  }
  return out;
}

class Parser {
  private i = 0;
  private depth = 0;
  constructor(
    private readonly toks: Token[],
    private readonly end: number,
  ) {}

  parse(): Condition {
    if (this.toks.length === 0) throw new ConditionError('empty condition', 0);
    const e = this.or();
    const rest = this.toks[this.i];
    if (rest) throw new ConditionError(`unexpected '${String(rest.v)}' after a complete condition`, rest.at);
    return e;
  }

  private peek(): Token | undefined {
    return this.toks[this.i];
  }

  private isOp(...ops: string[]): boolean {
    const t = this.peek();
    return t?.k === 'op' && ops.includes(t.v);
  }

  private expect(op: string): void {
    const t = this.peek();
    if (t?.k !== 'op' || t.v !== op) throw new ConditionError(`expected '${op}'${t ? ` before '${String(t.v)}'` : ' at the end'}`, t?.at ?? this.end);
    this.i++;
  }

  private binary(next: () => Condition, ops: BinOp[]): Condition {
    let l = next();
    while (this.isOp(...ops)) {
      const t = this.toks[this.i++]!;
      l = { t: 'bin', op: t.v as BinOp, l, r: next(), at: t.at };
    }
    return l;
  }

  private or = (): Condition => {
    if (++this.depth > MAX_DEPTH) throw new ConditionError(`nested more than ${MAX_DEPTH} levels deep`, this.peek()?.at ?? this.end);
    try {
      return this.binary(this.and, ['||']);
    } finally {
      this.depth--;
    }
  };
  private and = (): Condition => this.binary(this.not, ['&&']);
  private not = (): Condition => {
    if (this.isOp('!')) {
      const at = this.toks[this.i++]!.at;
      return { t: 'not', e: this.not(), at };
    }
    return this.compare();
  };
  private compare = (): Condition => {
    const l = this.sum();
    if (!this.isOp('<', '<=', '>', '>=', '==', '!=')) return l;
    const t = this.toks[this.i++]!;
    const node: Condition = { t: 'bin', op: t.v as BinOp, l, r: this.sum(), at: t.at };
    if (this.isOp('<', '<=', '>', '>=', '==', '!=')) throw new ConditionError("comparisons do not chain: join them with '&&'", this.peek()!.at);
    return node;
  };
  private sum = (): Condition => this.binary(this.product, ['+', '-']);
  private product = (): Condition => this.binary(this.unary, ['*', '/']);
  private unary = (): Condition => {
    if (this.isOp('-')) {
      const at = this.toks[this.i++]!.at;
      return { t: 'neg', e: this.unary(), at };
    }
    return this.primary();
  };

  private primary(): Condition {
    const t = this.peek();
    if (!t) throw new ConditionError('the condition ends too early', this.end);
    this.i++;
    if (t.k === 'num') return { t: 'num', v: t.v };
    if (t.k === 'op') {
      if (t.v !== '(') throw new ConditionError(`unexpected '${t.v}'`, t.at);
      const e = this.or();
      this.expect(')');
      return e;
    }
    if (t.v === 'true' || t.v === 'false') return { t: 'bool', v: t.v === 'true' };
    if (t.v === 'result') {
      if (!this.isOp('[')) return { t: 'result' };
      this.i++;
      const n = this.peek();
      if (n?.k !== 'num' || !Number.isInteger(n.v)) throw new ConditionError('result[...] takes a whole number, like result[0]', n?.at ?? this.end);
      this.i++;
      this.expect(']');
      return { t: 'index', i: n.v, at: t.at };
    }
    if ((FNS as readonly string[]).includes(t.v)) {
      this.expect('(');
      const arg = this.or();
      this.expect(')');
      return { t: 'fn', name: t.v as Fn, arg, at: t.at };
    }
    throw new ConditionError(`unknown name '${t.v}': a condition reads result, result[N], numbers, true/false and ${FNS.join(', ')}()`, t.at);
  }
}

/** Parses a condition, or throws a `ConditionError` with the offset of the problem. */
export function parseCondition(src: string): Condition {
  if (src.length > MAX_CONDITION) throw new ConditionError(`longer than ${MAX_CONDITION} characters`, MAX_CONDITION);
  const cond = new Parser(tokenize(src), src.length).parse();
  if (typeOf(cond) !== 'boolean') throw new ConditionError('the condition must compare something, like result[0] < 0.05', 0);
  return cond;
}

/** Static types, so `result + 1` or `len(0)` is a syntax-time error rather than a surprise at the first measurement. */
function typeOf(c: Condition): 'number' | 'boolean' | 'vector' {
  const want = (e: Condition, type: 'number' | 'boolean' | 'vector', at: number, what: string) => {
    const got = typeOf(e);
    if (got !== type)
      throw new ConditionError(`${what} needs a ${type === 'vector' ? 'result (the list of values)' : type}, not a ${got === 'vector' ? 'list' : got}`, at);
  };
  switch (c.t) {
    case 'num':
    case 'index':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'result':
      return 'vector';
    case 'not':
      want(c.e, 'boolean', c.at, "'!'");
      return 'boolean';
    case 'neg':
      want(c.e, 'number', c.at, "'-'");
      return 'number';
    case 'fn':
      want(c.arg, c.name === 'len' ? 'vector' : 'number', c.at, `${c.name}()`);
      return c.name === 'len' || c.name === 'abs' ? 'number' : 'boolean';
    case 'bin':
      if (c.op === '||' || c.op === '&&') {
        want(c.l, 'boolean', c.at, `'${c.op}'`);
        want(c.r, 'boolean', c.at, `'${c.op}'`);
        return 'boolean';
      }
      if (c.op === '==' || c.op === '!=') {
        const l = typeOf(c.l);
        if (l === 'vector') throw new ConditionError(`'${c.op}' compares values: write result[0] or len(result)`, c.at);
        want(c.r, l, c.at, `'${c.op}'`);
        return 'boolean';
      }
      want(c.l, 'number', c.at, `'${c.op}'`);
      want(c.r, 'number', c.at, `'${c.op}'`);
      return c.op === '+' || c.op === '-' || c.op === '*' || c.op === '/' ? 'number' : 'boolean';
  }
}

/**
 * Evaluates a parsed condition on a query's result (one number per series). Throws `Inconclusive`
 * when a value it needs is missing (an empty result) or NaN, and a `ConditionError` when it asks for
 * a series the result does not have.
 */
export function evaluateCondition(c: Condition, result: readonly number[]): boolean {
  const v = evaluate(c, result);
  if (typeof v !== 'boolean') throw new ConditionError('the condition did not give true or false', 0);
  return v;
}

function num(v: Value): number {
  if (typeof v !== 'number') throw new ConditionError('expected a number', 0);
  return v;
}

function evaluate(c: Condition, result: readonly number[]): Value {
  switch (c.t) {
    case 'num':
    case 'bool':
      return c.v;
    case 'result':
      return result;
    case 'index': {
      if (result.length === 0) throw new Inconclusive(`the query returned no series, so result[${c.i}] has no value`);
      const v = result[c.i];
      if (v === undefined) throw new ConditionError(`result[${c.i}]: the query returned ${result.length} series`, c.at);
      return v;
    }
    case 'not':
      return !evaluate(c.e, result);
    case 'neg':
      return -num(evaluate(c.e, result));
    case 'fn': {
      const arg = evaluate(c.arg, result);
      if (c.name === 'len') return (arg as readonly number[]).length;
      if (c.name === 'isNaN') return Number.isNaN(arg);
      if (c.name === 'isInf') return arg === Infinity || arg === -Infinity;
      return Math.abs(num(arg));
    }
    case 'bin': {
      if (c.op === '||') return evaluate(c.l, result) === true || evaluate(c.r, result) === true;
      if (c.op === '&&') return evaluate(c.l, result) === true && evaluate(c.r, result) === true;
      const l = evaluate(c.l, result);
      const r = evaluate(c.r, result);
      if (typeof l === 'boolean' || typeof r === 'boolean') return c.op === '==' ? l === r : l !== r;
      const a = num(l);
      const b = num(r);
      switch (c.op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
          return a / b;
      }
      if (Number.isNaN(a) || Number.isNaN(b)) throw new Inconclusive('the value is NaN (no traffic to divide by?)');
      switch (c.op) {
        case '<':
          return a < b;
        case '<=':
          return a <= b;
        case '>':
          return a > b;
        case '>=':
          return a >= b;
        case '==':
          return a === b;
        default:
          return a !== b;
      }
    }
  }
}
