import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../../src/deploy/template.js';

describe('deploy template rendering', () => {
  it('fills placeholders inside values only', () => {
    const r = renderTemplate(
      'env:\n  SHA: ${SLIPWAY_COMMIT_SHA}\n  MODE: "fpm"\ncommand: [run, "${SLIPWAY_ENVIRONMENT}"]\n',
      { SLIPWAY_COMMIT_SHA: 'abc', SLIPWAY_ENVIRONMENT: 'pre' },
      't.yml',
    );
    expect(r).toEqual({ ok: true, spec: { env: { SHA: 'abc', MODE: 'fpm' }, command: ['run', 'pre'] } });
  });

  it('a value cannot inject YAML structure', () => {
    const r = renderTemplate('env:\n  A: ${V}\n', { V: 'x\nB: injected' }, 't.yml');
    expect(r).toEqual({ ok: true, spec: { env: { A: 'x\nB: injected' } } });
  });

  it('names an unknown placeholder with line and column', () => {
    const r = renderTemplate('env:\n  A: ${NOPE}\n', { KNOWN: '1' }, 't.yml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems[0]).toMatchObject({ file: 't.yml', line: 2, column: 6 });
    expect(r.problems[0]?.message).toContain('${NOPE}');
  });
});
