/*
 * The conditions a pipeline file writes for its Prometheus metrics, as Argo Rollouts users write
 * them: what passes, what fails, what cannot be judged (inconclusive), and syntax errors with the
 * character where they go wrong. No eval: names outside the grammar are refused.
 */
import { describe, expect, it } from 'vitest';
import { ConditionError, evaluateCondition, Inconclusive, parseCondition } from '../../../src/analysis/condition.js';

const judge = (src: string, result: number[]) => evaluateCondition(parseCondition(src), result);

describe('analysis conditions', () => {
  it("judges Argo Rollouts' usual conditions", () => {
    expect(judge('result[0] < 0.05', [0.01])).toBe(true);
    expect(judge('result[0] < 0.05', [0.31])).toBe(false);
    expect(judge('result[0] >= 0.95', [0.95])).toBe(true);
    expect(judge('result[0] <= 0.5 && result[1] <= 0.5', [0.1, 0.6])).toBe(false);
    expect(judge('result[0] > 1 || result[1] > 1', [0, 2])).toBe(true);
    expect(judge('result[0] > 1 or result[1] > 1 and false', [2, 0])).toBe(true);
    expect(judge('not (result[0] == 1)', [1])).toBe(false);
    expect(judge('!(result[0] != 1)', [1])).toBe(true);
    expect(judge('result[0] * 100 < 5', [0.04])).toBe(true);
    expect(judge('result[0] / 2 - 1 >= -0.5', [1])).toBe(true);
    expect(judge('abs(result[0] - 1) < 0.1', [1.05])).toBe(true);
    expect(judge('len(result) == 0 || result[0] >= 0.95', [])).toBe(true);
    expect(judge('len(result) == 2', [1, 2])).toBe(true);
    expect(judge('isNaN(result[0]) || result[0] < 1', [Number.NaN])).toBe(true);
    expect(judge('isInf(result[0])', [Infinity])).toBe(true);
    expect(judge('result[0] < 1e-3', [0.0001])).toBe(true);
  });

  it('cannot judge an empty result or a NaN value: inconclusive, saying why', () => {
    expect(() => judge('result[0] < 0.05', [])).toThrow(Inconclusive);
    expect(() => judge('result[0] < 0.05', [])).toThrow('the query returned no series, so result[0] has no value');
    expect(() => judge('result[0] < 0.05', [Number.NaN])).toThrow('the value is NaN');
    expect(() => judge('result[0] / result[1] < 0.05', [0, 0])).toThrow(Inconclusive);
  });

  it('asks for a series the result does not have: an error naming how many there are', () => {
    expect(() => judge('result[2] < 1', [1, 2])).toThrow(ConditionError);
    expect(() => judge('result[2] < 1', [1, 2])).toThrow('result[2]: the query returned 2 series');
  });

  it.each([
    ['result[0] < ', 'the condition ends too early', 12],
    ['result[0] = 1', "unexpected '=' (compare with '==')", 10],
    ['result[0] < 1 & result[1] < 1', "unexpected '&' (write '&&')", 14],
    ['process.exit(1)', "unexpected '.'", 7],
    ['require("fs")', "unexpected '\"'", 8],
    ['env < 1', "unknown name 'env': a condition reads result, result[N], numbers, true/false and len, isNaN, isInf, abs()", 0],
    ['result[0]', 'the condition must compare something', 0],
    ['result < 1', "'<' needs a number, not a list", 7],
    ['result[0.5] < 1', 'result[...] takes a whole number', 7],
    ['1 < result[0] < 2', "comparisons do not chain: join them with '&&'", 14],
    ['(result[0] < 1', "expected ')' at the end", 14],
    ['result[0] < 1 1', "unexpected '1' after a complete condition", 14],
    ['len(result[0]) == 1', 'len() needs a result (the list of values), not a number', 0],
    ['', 'empty condition', 0],
  ])('%j is refused: %s', (src, message, offset) => {
    let err: unknown;
    try {
      parseCondition(src);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConditionError);
    expect((err as ConditionError).message).toContain(message);
    expect((err as ConditionError).offset).toBe(offset);
  });

  it('refuses deep nesting and long conditions instead of recursing without bound', () => {
    expect(() => parseCondition(`${'('.repeat(40)}result[0] < 1${')'.repeat(40)}`)).toThrow('nested more than 32 levels deep');
    expect(() => parseCondition(`result[0] < 1${' '.repeat(600)}`)).toThrow('longer than 500 characters');
  });
});
