/*
 * `${NAME}` in a query: the value arrives as one PromQL string literal, so data from the event
 * (a branch name, an environment variable) cannot end the selector or add to the query.
 */
import { describe, expect, it } from 'vitest';
import { promqlString, queryVariableProblems, substituteHeader, substituteQuery, substituteUrl } from '../../../src/analysis/promql-vars.js';

describe('query variables', () => {
  it('inserts values as quoted, escaped PromQL strings', () => {
    expect(substituteQuery('sum(up{service=${SLIPWAY_SERVICE}})', { SLIPWAY_SERVICE: 'web' })).toBe('sum(up{service="web"})');
    const hostile = '"} or vector(1) # \\ \n';
    const q = substituteQuery('up{env=${ENV}}', { ENV: hostile });
    expect(q).toBe('up{env="\\"} or vector(1) # \\\\ \\n"}');
    // Reading the literal back as PromQL's (Go's) string grammar gives exactly the value.
    expect(JSON.parse(q.slice('up{env='.length, -1))).toBe(hostile);
    expect(promqlString('a\u0001b')).toBe('"a\\x01b"');
  });

  it('refuses a variable written inside quotes, and one with no value, naming it', () => {
    expect(queryVariableProblems('up{service="${SLIPWAY_SERVICE}"}')).toEqual([
      '${SLIPWAY_SERVICE} is inside quotes: write it bare, like {service=${SLIPWAY_SERVICE}}; Slipway inserts it as a quoted, escaped string',
    ]);
    expect(queryVariableProblems('up{a="x\\"${Y}"}')).toHaveLength(1);
    expect(queryVariableProblems('up{a="x"} # "${Y}" in a comment\n + up{b=${Y}}')).toEqual([]);
    expect(() => substituteQuery('up{service=${NOPE}}', { SLIPWAY_SERVICE: 'web' })).toThrow('${NOPE} has no value (known: SLIPWAY_SERVICE)');
  });

  it('URL-encodes values in gate URLs and refuses line breaks in headers', () => {
    expect(substituteUrl('https://ci.example/smoke?env=${ENV}', { ENV: 'pre&x=/../admin' })).toBe('https://ci.example/smoke?env=pre%26x%3D%2F..%2Fadmin');
    expect(substituteHeader('Bearer ${TOKEN}', { TOKEN: 'abc' })).toBe('Bearer abc');
    expect(() => substituteHeader('Bearer ${TOKEN}', { TOKEN: 'abc\r\nX-Evil: 1' })).toThrow('holds a line break');
  });
});
