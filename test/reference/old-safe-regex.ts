/*
 * TEST-ONLY REFERENCE: src/pipeline/safe-regex.ts, the hand-written linear-time matcher, as it was
 * before Slipway moved onto re2js. Nothing in src/ imports it; the differential test
 * (test/unit/patterns/regex-differential.test.ts) uses it as the oracle showing that the
 * library-backed code keeps the old behaviour. Do not fix it: it records what we promised.
 */
/**
 * A linear-time regular expression matcher (Thompson NFA, no backtracking), for `=~` in rules and
 * for globs. Patterns come from repositories and subjects from events (branch names): a
 * backtracking engine would let `/(a+)+$/` hang the planner. GitLab evaluates these with RE2 for
 * the same reason; this supports the RE2 subset rules use: literals, `.`, classes with ranges and
 * negation, `\d \w \s` (and upper-case negations), `^ $ \b`, groups `( )` `(?: )`, `|`, `* + ?
 * {m} {m,} {m,n}`, and the `i` flag. Backreferences and lookaround are rejected.
 */
type Pred = (c: number) => boolean;
type Node =
  | { t: 'char'; p: Pred }
  | { t: 'bol' }
  | { t: 'eol' }
  | { t: 'wordb'; neg: boolean }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'rep'; node: Node; min: number; max: number };

type Inst =
  | { op: 'char'; p: Pred; next: number }
  | { op: 'split'; a: number; b: number }
  | { op: 'jmp'; to: number }
  | { op: 'assert'; kind: 'bol' | 'eol' | 'wordb' | 'nwordb'; next: number }
  | { op: 'match' };

export interface SafeRegex {
  source: string;
  test(subject: string): boolean;
}

export class RegexSyntaxError extends Error {
  override readonly name = 'RegexSyntaxError';
}

const MAX_PATTERN = 1000;
const MAX_PROGRAM = 20_000;
const MAX_REPEAT = 100;

const isWord = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const not =
  (p: Pred): Pred =>
  (c) =>
    !p(c);

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly fold: boolean,
  ) {}

  parse(): Node {
    const n = this.alt();
    if (this.i < this.src.length) this.fail(`unexpected '${this.src[this.i]}'`);
    return n;
  }

  private fail(msg: string): never {
    throw new RegexSyntaxError(`${msg} at offset ${this.i}`);
  }

  private alt(): Node {
    const items = [this.cat()];
    while (this.src[this.i] === '|') {
      this.i++;
      items.push(this.cat());
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private cat(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') items.push(this.repeat());
    return { t: 'cat', items };
  }

  private repeat(): Node {
    let node = this.atom();
    for (;;) {
      const c = this.src[this.i];
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{' && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.i))) {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i))!;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT) || max < min) this.fail(`repeat count over ${MAX_REPEAT} or reversed`);
        this.i += m[0].length - 1;
      } else return node;
      this.i++;
      if (node.t === 'bol' || node.t === 'eol' || node.t === 'wordb') this.fail('nothing to repeat');
      if (this.src[this.i] === '?') this.i++; // lazy: same answer for a yes/no match
      node = { t: 'rep', node, min, max };
    }
  }

  private atom(): Node {
    const c = this.src[this.i++];
    switch (c) {
      case '(': {
        if (this.src.startsWith('?:', this.i)) this.i += 2;
        else if (this.src[this.i] === '?') this.fail('lookaround and named groups are not supported');
        const inner = this.alt();
        if (this.src[this.i++] !== ')') this.fail('missing )');
        return inner;
      }
      case '.':
        return { t: 'char', p: (x) => x !== 10 };
      case '^':
        return { t: 'bol' };
      case '$':
        return { t: 'eol' };
      case '[':
        return { t: 'char', p: this.klass() };
      case '\\':
        return this.escape(false) as Node;
      case '*':
      case '+':
      case '?':
        this.i--;
        return this.fail('nothing to repeat');
      case ')':
        this.i--;
        return this.fail('unmatched )');
      default:
        return { t: 'char', p: this.lit(c!.codePointAt(0)!) };
    }
  }

  private lit(code: number): Pred {
    if (!this.fold) return (x) => x === code;
    const ch = String.fromCodePoint(code);
    const lo = ch.toLowerCase().codePointAt(0)!;
    const up = ch.toUpperCase().codePointAt(0)!;
    return (x) => x === code || x === lo || x === up;
  }

  /** After a backslash. In a class, returns a predicate only. */
  private escape(inClass: boolean): Node | Pred {
    const c = this.src[this.i++];
    if (c === undefined) this.fail('trailing backslash');
    const wrap = (p: Pred): Node | Pred => (inClass ? p : { t: 'char', p });
    switch (c) {
      case 'd':
        return wrap(isDigit);
      case 'D':
        return wrap(not(isDigit));
      case 'w':
        return wrap(isWord);
      case 'W':
        return wrap(not(isWord));
      case 's':
        return wrap(isSpace);
      case 'S':
        return wrap(not(isSpace));
      case 'n':
        return wrap(this.lit(10));
      case 't':
        return wrap(this.lit(9));
      case 'b':
      case 'B':
        if (inClass) this.fail('\\b in a class');
        return { t: 'wordb', neg: c === 'B' };
      default:
        if (/[0-9]/.test(c)) this.fail('backreferences are not supported');
        if (/[A-Za-z]/.test(c)) this.fail(`unknown escape \\${c}`);
        return wrap(this.lit(c.codePointAt(0)!));
    }
  }

  private klass(): Pred {
    const negate = this.src[this.i] === '^';
    if (negate) this.i++;
    const parts: Pred[] = [];
    let first = true;
    while (this.src[this.i] !== ']' || first) {
      first = false;
      if (this.i >= this.src.length) this.fail('missing ]');
      let lo: number;
      if (this.src[this.i] === '\\') {
        this.i++;
        const p = this.escape(true) as Pred;
        parts.push(p);
        continue;
      }
      lo = this.src.codePointAt(this.i)!;
      this.i += lo > 0xffff ? 2 : 1;
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        let hi = this.src.codePointAt(this.i)!;
        if (this.src[this.i] === '\\') {
          this.i++;
          hi = this.src.codePointAt(this.i)!;
        }
        this.i += hi > 0xffff ? 2 : 1;
        if (hi < lo) this.fail('reversed range');
        const [a, b] = [lo, hi];
        parts.push(this.fold ? (x) => inRangeFolded(x, a, b) : (x) => x >= a && x <= b);
      } else parts.push(this.lit(lo));
    }
    this.i++;
    const any: Pred = (x) => parts.some((p) => p(x));
    return negate ? (x) => x !== 10 && !any(x) : any;
  }
}

function inRangeFolded(x: number, a: number, b: number): boolean {
  if (x >= a && x <= b) return true;
  const s = String.fromCodePoint(x);
  const other = (s === s.toLowerCase() ? s.toUpperCase() : s.toLowerCase()).codePointAt(0)!;
  return other >= a && other <= b;
}

/** Thompson construction: instructions with explicit successors. */
function compile(root: Node): Inst[] {
  const prog: Inst[] = [];
  const emit = (inst: Inst): number => {
    if (prog.length >= MAX_PROGRAM) throw new RegexSyntaxError('pattern too large');
    prog.push(inst);
    return prog.length - 1;
  };
  // gen returns the entry index; `next` is where control goes after the node.
  const gen = (n: Node, next: number): number => {
    switch (n.t) {
      case 'char':
        return emit({ op: 'char', p: n.p, next });
      case 'bol':
        return emit({ op: 'assert', kind: 'bol', next });
      case 'eol':
        return emit({ op: 'assert', kind: 'eol', next });
      case 'wordb':
        return emit({ op: 'assert', kind: n.neg ? 'nwordb' : 'wordb', next });
      case 'cat': {
        let at = next;
        for (let k = n.items.length - 1; k >= 0; k--) at = gen(n.items[k]!, at);
        return at;
      }
      case 'alt': {
        let at = gen(n.items[n.items.length - 1]!, next);
        for (let k = n.items.length - 2; k >= 0; k--) at = emit({ op: 'split', a: gen(n.items[k]!, next), b: at });
        return at;
      }
      case 'rep': {
        let at = next;
        if (n.max === Infinity) {
          const loop = emit({ op: 'split', a: -1, b: next });
          const body = gen(n.node, loop);
          (prog[loop] as { a: number }).a = body;
          at = loop;
        } else {
          for (let k = n.min; k < n.max; k++) at = emit({ op: 'split', a: gen(n.node, at), b: next });
        }
        for (let k = 0; k < n.min; k++) at = gen(n.node, at);
        return at;
      }
    }
  };
  const match = emit({ op: 'match' });
  const start = gen(root, match);
  prog.push({ op: 'jmp', to: start }); // entry point is the last instruction
  return prog;
}

function run(prog: Inst[], s: string): boolean {
  const entry = prog.length - 1;
  const codes = Array.from(s, (ch) => ch.codePointAt(0)!);
  // Sparse sets by generation stamp: no allocation per character.
  const mark = new Int32Array(prog.length).fill(-1);
  let gen = 0;
  let threads: number[] = [];
  let next: number[] = [];
  const stack: number[] = [];
  const add = (list: number[], pc: number, pos: number): void => {
    stack.push(pc);
    while (stack.length > 0) {
      const at = stack.pop()!;
      if (mark[at] === gen) continue;
      mark[at] = gen;
      const inst = prog[at]!;
      if (inst.op === 'jmp') stack.push(inst.to);
      else if (inst.op === 'split') stack.push(inst.b, inst.a);
      else if (inst.op === 'assert') {
        const prev = pos > 0 ? codes[pos - 1]! : -1;
        const cur = pos < codes.length ? codes[pos]! : -1;
        const boundary = (prev >= 0 && isWord(prev)) !== (cur >= 0 && isWord(cur));
        const ok = inst.kind === 'bol' ? pos === 0 : inst.kind === 'eol' ? pos === codes.length : inst.kind === 'wordb' ? boundary : !boundary;
        if (ok) stack.push(inst.next);
      } else list.push(at);
    }
  };
  // Pike VM: every thread advances one character at a time, so the cost is O(pattern × subject).
  add(threads, entry, 0);
  for (let pos = 0; ; pos++) {
    for (const pc of threads) if (prog[pc]!.op === 'match') return true;
    if (pos === codes.length) return false;
    gen++;
    next.length = 0;
    const c = codes[pos]!;
    for (const pc of threads) {
      const inst = prog[pc]!;
      if (inst.op === 'char' && inst.p(c)) add(next, inst.next, pos + 1);
    }
    add(next, entry, pos + 1); // unanchored search: a match may start anywhere
    [threads, next] = [next, threads];
  }
}

/** Compile `pattern` (without slashes). Throws RegexSyntaxError with an offset. */
export function compileSafeRegex(pattern: string, flags = ''): SafeRegex {
  if (pattern.length > MAX_PATTERN) throw new RegexSyntaxError(`pattern longer than ${MAX_PATTERN} characters`);
  for (const f of flags) if (f !== 'i') throw new RegexSyntaxError(`unsupported flag '${f}' (only i)`);
  const prog = compile(new Parser(pattern, flags.includes('i')).parse());
  return { source: `/${pattern}/${flags}`, test: (subject) => run(prog, subject) };
}
