/*
 * What a repository author notices about regexes in rules, coverage and globs: patterns from a
 * repository cannot hang Slipway (RE2 matches in linear time), syntax RE2 cannot run in linear
 * time is refused with an error naming the pattern, and the flags are GitLab's.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { evaluate, ExpressionError, parseExpression } from '../../../src/patterns/expression.js';
import { compileRegex, RegexSyntaxError } from '../../../src/patterns/regex.js';

const execFileP = promisify(execFile);

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEADLINE_MS = 30_000;

/**
 * Runs the probes in a child process with a deadline: a backtracking engine would spin
 * synchronously (2^100,000 steps), which no test timeout can interrupt, so the child is killed
 * instead and the test fails saying so. Not a benchmark: the deadline is far above RE2's time.
 */
async function probe(body: string): Promise<unknown> {
  const code = `
    import { compileRegex } from ${JSON.stringify(`${ROOT}src/patterns/regex.ts`)};
    import { compileGlob } from ${JSON.stringify(`${ROOT}src/patterns/glob.ts`)};
    import { evaluate, parseExpression } from ${JSON.stringify(`${ROOT}src/patterns/expression.ts`)};
    import { parseCoverage } from ${JSON.stringify(`${ROOT}src/reports/coverage.ts`)};
    const evil = 'a'.repeat(100000) + 'b';
    process.stdout.write(JSON.stringify(${body}));`;
  const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, timeout: DEADLINE_MS }).catch(
    (err: { killed?: boolean; stderr?: string }) => {
      throw new Error(err.killed ? `still matching after ${DEADLINE_MS} ms: the engine backtracks` : `probe failed: ${err.stderr ?? String(err)}`);
    },
  );
  return JSON.parse(stdout);
}

describe('pathological patterns finish', () => {
  it('(a+)+$ and friends on 100,000 characters: in a rule, as coverage and as a glob', { timeout: DEADLINE_MS + 10_000 }, async () => {
    expect(
      await probe(`[
      compileRegex('(a+)+$').test(evil),
      compileRegex('(x+x+)+y').test('x'.repeat(100000)),
      evaluate(parseExpression('$SLIPWAY_BRANCH =~ /^(a|aa)+$/'), { SLIPWAY_BRANCH: evil.slice(-10000) }),
      parseCoverage('Total: 81%\\n' + evil, '/(a+)+c|Total: \\\\d+%/'),
      compileGlob('**a**a**a**a**a**a**a**b').test('a/'.repeat(20000) + 'x'),
    ]`),
    ).toEqual([false, false, false, 81, false]);
  });
});

describe('unsupported syntax is refused, naming the pattern', () => {
  it.each([
    ['(a)\\1', 'backreferences are not supported (`\\1`) in /(a)\\1/'],
    ['x(?=y)', 'lookahead and lookbehind are not supported (`(?=`) in /x(?=y)/'],
    ['x(?!y)', 'lookahead and lookbehind are not supported (`(?!`) in /x(?!y)/'],
    ['(?<=x)y', 'lookahead and lookbehind are not supported in /(?<=x)y/'],
    ['(?<!x)y', 'lookahead and lookbehind are not supported in /(?<!x)y/'],
    ['(a', 'missing closing ) in /(a/'],
    ['a{2,1}', 'invalid repeat count (`{2,1}`) in /a{2,1}/'],
  ])('/%s/', (pattern, message) => {
    expect(() => compileRegex(pattern)).toThrow(RegexSyntaxError);
    expect(() => compileRegex(pattern)).toThrow(message);
  });

  it('in a rule, with the position in the expression', () => {
    const parse = () => parseExpression('$SLIPWAY_BRANCH =~ /^(a)\\1$/');
    expect(parse).toThrow(ExpressionError);
    expect(parse).toThrow('bad regular expression: backreferences are not supported (`\\1`) in /^(a)\\1$/');
  });

  it('a pattern over 1,000 characters', () => {
    expect(() => compileRegex('a'.repeat(1001))).toThrow('pattern longer than 1000 characters');
  });
});

describe("GitLab's /pattern/flags", () => {
  const match = (expression: string, value: string) => evaluate(parseExpression(`$V =~ ${expression}`), { V: value });

  it('i, m, s and U, as GitLab passes them to RE2', () => {
    expect(match('/^release$/i', 'RELEASE')).toBe(true);
    expect(match('/^release$/', 'RELEASE')).toBe(false);
    expect(match('/^b$/m', 'a\nb')).toBe(true);
    expect(match('/^b$/', 'a\nb')).toBe(false);
    expect(match('/a.b/s', 'a\nb')).toBe(true);
    expect(match('/a.b/', 'a\nb')).toBe(false);
    expect(match('/^a+?$/U', 'aaa')).toBe(true);
  });

  it('any other flag is refused by name', () => {
    expect(() => parseExpression('$V =~ /x/g')).toThrow("bad regular expression: unsupported flag 'g' in /x/g (GitLab takes i, m, s and U)");
  });

  it('RE2 syntax the old matcher lacked: named groups, Unicode classes, POSIX classes', () => {
    expect(match('/^(?P<major>\\d+)\\.(?<minor>\\d+)$/', '1.22')).toBe(true);
    expect(match('/^\\pL+$/', 'Grüße')).toBe(true);
    expect(match('/^[[:alpha:]]+$/', 'abc1')).toBe(false);
  });

  it('a bad pattern held in a variable matches nothing, as in GitLab', () => {
    expect(evaluate(parseExpression('$V =~ $P'), { V: 'aa', P: '/(a)\\1/' })).toBe(false);
    expect(evaluate(parseExpression('$V !~ $P'), { V: 'aa', P: '/(a)\\1/' })).toBe(true);
    expect(evaluate(parseExpression('$V =~ $P'), { V: 'AA', P: '/^a+$/i' })).toBe(true);
  });
});
